import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { JobHandler } from '../platform/queue/queue.js';
import { governanceMetrics } from './metrics.js';
import { OffboardingService, TENANT_PURGE_JOB, type TenantStandingSink } from './offboarding.js';
import { governanceRoutes } from './routes.js';
import { GovernanceScheduler } from './scheduler.js';
import { GovernanceService } from './service.js';
import { RETENTION_SWEEP_JOB, RetentionSweeper } from './sweep.js';

export { DATA_CLASSES, RETENTION_CLASSES, type DataClass } from './registry.js';
export { RETENTION_SWEEP_JOB } from './sweep.js';
export { TENANT_PURGE_JOB, purgeOrder } from './offboarding.js';

export interface GovernanceDeps {
  db: Database;
  config: Pick<
    Config,
    | 'RETENTION_AUDIT_FLOOR_DAYS'
    | 'RETENTION_SWEEP_PERIOD_SECONDS'
    | 'RETENTION_SCHEDULER_TICK_MS'
    | 'RETENTION_BATCH_SIZE'
    | 'TENANT_PURGE_GRACE_HOURS'
  >;
  serverSecret: string;
  redis?: Redis | undefined;
  registry?: Registry | undefined;
  logger?: Logger | undefined;
  /** This process's authenticator: told of a disable or restore at once. */
  standing?: TenantStandingSink | undefined;
}

export interface Governance {
  routes: AnyRoute[];
  /** The sweep and purge jobs a worker registers (in `serve` itself with the embedded database). */
  jobs: Record<string, JobHandler>;
  /** Opens sweeps and purges as they fall due; every worker runs one (the database dedupes). */
  scheduler: GovernanceScheduler;
  sweeper: RetentionSweeper;
  offboarding: OffboardingService;
}

/** Builds governance: retention, legal holds, audit pruning and tenant offboarding. */
export function createGovernance(deps: GovernanceDeps): Governance {
  const { config } = deps;
  const metrics = deps.registry ? governanceMetrics(deps.registry) : undefined;
  const sweeper = new RetentionSweeper({
    db: deps.db,
    serverSecret: deps.serverSecret,
    settings: {
      auditFloorDays: config.RETENTION_AUDIT_FLOOR_DAYS,
      batchSize: config.RETENTION_BATCH_SIZE,
    },
    metrics,
    logger: deps.logger,
  });
  const offboarding = new OffboardingService({
    db: deps.db,
    redis: deps.redis,
    settings: {
      graceHours: config.TENANT_PURGE_GRACE_HOURS,
      batchSize: config.RETENTION_BATCH_SIZE,
    },
    standing: deps.standing,
    metrics,
    logger: deps.logger,
  });
  const service = new GovernanceService(deps.db, {
    auditFloorDays: config.RETENTION_AUDIT_FLOOR_DAYS,
  });
  return {
    routes: governanceRoutes(service, offboarding),
    jobs: { [RETENTION_SWEEP_JOB]: sweeper.handler(), [TENANT_PURGE_JOB]: offboarding.handler() },
    scheduler: new GovernanceScheduler({
      db: deps.db,
      periodSeconds: config.RETENTION_SWEEP_PERIOD_SECONDS,
      tickMs: config.RETENTION_SCHEDULER_TICK_MS,
      logger: deps.logger,
    }),
    sweeper,
    offboarding,
  };
}
