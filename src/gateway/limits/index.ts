import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Database } from '../../platform/db/database.js';
import type { TenantConfigCache } from '../config/tenant-config.js';
import { Limiter } from './limiter.js';
import { acquireLocalBudgets } from './local-budgets.js';
import { LimitsService } from './service.js';
import { SpendWriter } from './spend-writer.js';

export type LimitsConfig = Pick<
  Config,
  | 'RATE_LIMIT_REDIS_FAILURE_MODE'
  | 'RATE_LIMIT_REDIS_TIMEOUT_MS'
  | 'RATE_LIMIT_REDIS_LEASES'
  | 'GATEWAY_MAX_OUTPUT_TOKENS_ESTIMATE'
  | 'GATEWAY_BUDGET_RESERVATION_TTL_MS'
  | 'GATEWAY_BUDGET_FLUSH_MS'
>;

const DEFAULTS: LimitsConfig = {
  RATE_LIMIT_REDIS_FAILURE_MODE: 'open',
  RATE_LIMIT_REDIS_TIMEOUT_MS: 150,
  RATE_LIMIT_REDIS_LEASES: true,
  GATEWAY_MAX_OUTPUT_TOKENS_ESTIMATE: 4096,
  GATEWAY_BUDGET_RESERVATION_TTL_MS: 660_000,
  GATEWAY_BUDGET_FLUSH_MS: 250,
};

/**
 * Builds the limiter and the limits service. Budgets: in Redis when a client is given; else in
 * process on the embedded database (one process alone can open it, so local state is exact);
 * else in Postgres (several replicas may share it).
 */
export function createLimits(deps: {
  db: Database;
  logger: Logger;
  redis: Redis | undefined;
  config: LimitsConfig | undefined;
  tenantConfig: TenantConfigCache;
}): LimitsService {
  const c = deps.config ?? DEFAULTS;
  const local = !deps.redis && deps.db.kind === 'pglite' ? acquireLocalBudgets(deps.db) : undefined;
  const limiter = new Limiter({
    redis: deps.redis,
    failureMode: c.RATE_LIMIT_REDIS_FAILURE_MODE,
    redisTimeoutMs: c.RATE_LIMIT_REDIS_TIMEOUT_MS,
    reservationTtlMs: c.GATEWAY_BUDGET_RESERVATION_TTL_MS,
    logger: deps.logger,
    localBudgets: local?.budgets,
    leases: c.RATE_LIMIT_REDIS_LEASES,
  });
  return new LimitsService({
    db: deps.db,
    limiter,
    config: deps.tenantConfig,
    spend: new SpendWriter(deps.db, deps.logger, c.GATEWAY_BUDGET_FLUSH_MS),
    logger: deps.logger,
    maxOutputEstimate: c.GATEWAY_MAX_OUTPUT_TOKENS_ESTIMATE,
    reservationTtlMs: c.GATEWAY_BUDGET_RESERVATION_TTL_MS,
    release: local?.release,
  });
}
