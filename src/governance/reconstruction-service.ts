import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import { DataPolicyService } from './data-policy-service.js';
import { governanceRequestRoutes } from './requests-routes.js';
import { RequestRecordService } from './requests-service.js';

export interface Reconstruction {
  records: RequestRecordService;
  dataPolicy: DataPolicyService;
  routes: AnyRoute[];
}

/**
 * Builds reconstruction (request records, GET /v1/requests/:requestId) and the tenant data policy
 * (GET/PUT /v1/governance/data-policy). `onPolicyChanged` lets this instance's gateway config
 * cache drop the tenant at once (other instances hear the NOTIFY of migration 0075's trigger).
 */
export function createReconstruction(deps: {
  db: Database;
  onPolicyChanged?: ((tenantId: string) => void) | undefined;
}): Reconstruction {
  const records = new RequestRecordService(deps.db);
  const dataPolicy = new DataPolicyService(deps.db, deps.onPolicyChanged);
  return { records, dataPolicy, routes: governanceRequestRoutes(records, dataPolicy) };
}
