import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import { AuditHeadPublisher } from './head.js';
import { auditRoutes } from './routes.js';

export type { AuditHeadPublisher } from './head.js';
export {
  existingPseudonym,
  openIp,
  pseudonymKeys,
  reveal,
  revealMap,
  shredSubject,
  type SubjectKind,
} from './pseudonym-store.js';

export interface AuditDeps {
  db: Database;
  logger: Logger;
  serverSecret: string;
  config: Pick<Config, 'AUDIT_HEAD_INTERVAL_MS'>;
}

export interface Audit {
  /** Publishes signed audit chain heads in the log. */
  heads: AuditHeadPublisher;
  routes: AnyRoute[];
  /** Stops the head publisher. */
  close(): Promise<void>;
}

/** Builds the audit feature and starts publishing chain heads. */
export async function createAudit(deps: AuditDeps): Promise<Audit> {
  // Signed chain heads in the log, where the database cannot rewrite them (decision 003).
  const heads = new AuditHeadPublisher({
    db: deps.db,
    logger: deps.logger,
    serverSecret: deps.serverSecret,
    intervalMs: deps.config.AUDIT_HEAD_INTERVAL_MS,
  });
  await heads.start();
  return { heads, routes: auditRoutes(deps.db), close: () => heads.stop() };
}
