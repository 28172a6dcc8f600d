import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { GatewayService } from './invoke-service.js';
import { gatewayManageRoutes } from './manage-routes.js';
import { gatewayOpenAIRoutes } from './openai-routes.js';
import { ProviderService } from './providers-service.js';
import { RoutingService } from './routing-service.js';
import { UpstreamClient } from './upstream.js';
import { TargetPolicies } from './resilience/policy.js';
import { UsageRecorder } from './usage.js';
import { gatewayUsageRoutes } from './usage-routes.js';
import type { Redis } from 'ioredis';
import { createLimits, type LimitsConfig } from './limits/index.js';
import { limitsRoutes } from './limits/routes.js';

export interface Gateway {
  providers: ProviderService;
  routing: RoutingService;
  invoke: GatewayService;
  usage: UsageRecorder;
  routes: AnyRoute[];
  /** Waits for pending usage writes and closes upstream connections. */
  close(): Promise<void>;
}

/** Builds the gateway feature. Without a keyring, provider credentials cannot be stored (503). */
export function createGateway(deps: {
  db: Database;
  logger: Logger;
  config: Pick<
    Config,
    | 'GATEWAY_CONNECT_TIMEOUT_MS'
    | 'GATEWAY_FIRST_BYTE_TIMEOUT_MS'
    | 'GATEWAY_IDLE_TIMEOUT_MS'
    | 'GATEWAY_RETRY_ATTEMPTS'
    | 'GATEWAY_RETRY_BASE_MS'
    | 'GATEWAY_RETRY_MAX_DELAY_MS'
    | 'GATEWAY_BREAKER_THRESHOLD'
    | 'GATEWAY_BREAKER_COOLDOWN_MS'
    | 'GATEWAY_USAGE_FLUSH_MS'
    | 'GATEWAY_USAGE_BATCH_MAX'
  >;
  keyring: Keyring | undefined;
  redis?: Redis | undefined;
  limitsConfig?: LimitsConfig | undefined;
}): Gateway {
  const limits = createLimits({
    db: deps.db,
    logger: deps.logger,
    redis: deps.redis,
    config: deps.limitsConfig,
  });
  const providers = new ProviderService(deps.db, deps.keyring);
  const routing = new RoutingService(deps.db);
  const c = deps.config;
  const usage = new UsageRecorder(deps.db, deps.logger, {
    flushMs: c.GATEWAY_USAGE_FLUSH_MS,
    batchMax: c.GATEWAY_USAGE_BATCH_MAX,
  });
  const policies = new TargetPolicies({
    attempts: c.GATEWAY_RETRY_ATTEMPTS,
    baseDelayMs: c.GATEWAY_RETRY_BASE_MS,
    maxDelayMs: c.GATEWAY_RETRY_MAX_DELAY_MS,
    breakerThreshold: c.GATEWAY_BREAKER_THRESHOLD,
    breakerCooldownMs: c.GATEWAY_BREAKER_COOLDOWN_MS,
  });
  const upstream = new UpstreamClient({
    connectMs: deps.config.GATEWAY_CONNECT_TIMEOUT_MS,
    firstByteMs: deps.config.GATEWAY_FIRST_BYTE_TIMEOUT_MS,
    idleMs: deps.config.GATEWAY_IDLE_TIMEOUT_MS,
  });
  const invoke = new GatewayService({
    db: deps.db,
    providers,
    upstream,
    policies,
    usage,
    logger: deps.logger,
    limits,
  });
  return {
    providers,
    routing,
    invoke,
    usage,
    routes: [
      ...gatewayManageRoutes({ providers, routing }),
      ...gatewayOpenAIRoutes(invoke),
      ...gatewayUsageRoutes(usage),
      ...limitsRoutes(limits),
    ],
    async close() {
      await limits.flush();
      await usage.flush();
      await upstream.close();
    },
  };
}
