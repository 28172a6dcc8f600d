import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Database } from '../../platform/db/database.js';
import { Limiter } from './limiter.js';
import { LimitsService } from './service.js';

export type LimitsConfig = Pick<
  Config,
  | 'RATE_LIMIT_REDIS_FAILURE_MODE'
  | 'RATE_LIMIT_REDIS_TIMEOUT_MS'
  | 'GATEWAY_MAX_OUTPUT_TOKENS_ESTIMATE'
>;

const DEFAULTS: LimitsConfig = {
  RATE_LIMIT_REDIS_FAILURE_MODE: 'open',
  RATE_LIMIT_REDIS_TIMEOUT_MS: 150,
  GATEWAY_MAX_OUTPUT_TOKENS_ESTIMATE: 4096,
};

/** Builds the limiter (Redis-backed when a client is given) and the limits service. */
export function createLimits(deps: {
  db: Database;
  logger: Logger;
  redis: Redis | undefined;
  config: LimitsConfig | undefined;
}): LimitsService {
  const c = deps.config ?? DEFAULTS;
  const limiter = new Limiter({
    redis: deps.redis,
    failureMode: c.RATE_LIMIT_REDIS_FAILURE_MODE,
    redisTimeoutMs: c.RATE_LIMIT_REDIS_TIMEOUT_MS,
    logger: deps.logger,
  });
  return new LimitsService(deps.db, limiter, c.GATEWAY_MAX_OUTPUT_TOKENS_ESTIMATE, deps.logger);
}
