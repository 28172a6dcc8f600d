import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { JobHandler } from '../platform/queue/queue.js';
import { SubjectJobs } from './subject-jobs.js';
import { subjectRoutes } from './subject-routes.js';
import { SubjectRightsService } from './subject-service.js';

export { DATA_MAP, PERSON_COLUMN, type DataMapEntry, type Handling } from './data-map.js';
export { EXPORT_JOB, ERASURE_JOB } from './subject-service.js';

export interface SubjectRights {
  routes: AnyRoute[];
  /** The export and erasure jobs a worker registers (in `serve` itself with the embedded database). */
  jobs: Record<string, JobHandler>;
  /** The job bodies, for tests that run a step directly. */
  runner: SubjectJobs;
}

/** Builds the data subject rights part of governance: export and erasure (decision 019). */
export function createSubjectRights(deps: {
  db: Database;
  config: Pick<Config, 'EXPORT_LINK_TTL_SECONDS'>;
  serverSecret: string;
  logger?: Logger | undefined;
}): SubjectRights {
  const runner = new SubjectJobs(deps.db, deps.logger);
  const service = new SubjectRightsService(deps.db, {
    serverSecret: deps.serverSecret,
    linkTtlSeconds: deps.config.EXPORT_LINK_TTL_SECONDS,
  });
  return { routes: subjectRoutes(service), jobs: runner.handlers(), runner };
}
