import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { PlatformProviderSetting } from '../config-providers.js';
import { DEFAULT_BASE_URLS } from './providers/index.js';
import type { ProviderConfig } from './providers/types.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { GatewayService } from './invoke/invoke-service.js';
import { Registry } from 'prom-client';
import type { Metrics } from '../platform/telemetry/metrics.js';
import { createResponseCache } from './cache/index.js';
import { GatewayMetrics } from './telemetry/telemetry.js';
import { Planner } from './invoke/planner.js';
import { gatewayManageRoutes } from './config/manage-routes.js';
import { gatewayOpenAIRoutes } from './invoke/openai-routes.js';
import { ProviderService } from './config/providers-service.js';
import { RoutingService } from './config/routing-service.js';
import { UpstreamClient } from './invoke/upstream.js';
import { TargetPolicies } from './resilience/policy.js';
import { UsageRecorder } from './usage/usage.js';
import { gatewayUsageRoutes } from './usage/usage-routes.js';
import type { Redis } from 'ioredis';
import { createLimits, type LimitsConfig } from './limits/index.js';
import { limitsRoutes } from './limits/routes.js';
import type { LimitsService } from './limits/service.js';
import { TenantConfigCache } from './config/tenant-config.js';
import { InProcessModelCalls, type ModelCalls } from './invoke/in-process.js';

export { ChatCompletionBody } from './invoke/schemas.js';
export type {
  CallMeta,
  CallUsage,
  ChatCall,
  ChatMessage,
  ChatOutcome,
  EmbeddingsCall,
  EmbeddingsOutcome,
  ModelCalls,
  ModelRef,
  ToolCall,
  ToolSpec,
} from './invoke/in-process.js';

export interface Gateway {
  providers: ProviderService;
  routing: RoutingService;
  invoke: GatewayService;
  /** The in-process entry every feature calls models through (in-process.ts ModelCalls). */
  calls: ModelCalls;
  usage: UsageRecorder;
  limits: LimitsService;
  /** Per-tenant snapshots of routes, providers, prices and limits (the invoke path's reads). */
  tenantConfig: TenantConfigCache;
  routes: AnyRoute[];
  /** Waits for pending usage writes and closes upstream connections. */
  close(): Promise<void>;
}

/** The operator's platform providers, with each type's default base URL filled in. */
function platformProviderConfigs(
  list: readonly PlatformProviderSetting[],
): Map<string, ProviderConfig> {
  return new Map(
    list.map((p) => [
      p.name,
      {
        type: p.type,
        baseUrl: p.baseUrl ?? DEFAULT_BASE_URLS[p.type],
        apiKey: p.apiKey,
        headers: p.headers,
        trusted: true,
        dataPolicy: p.dataPolicy,
        selfHosted: p.selfHosted,
      },
    ]),
  );
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
    | 'GATEWAY_CACHE_MAX_ENTRIES'
    | 'GATEWAY_CACHE_MAX_BYTES'
    | 'GATEWAY_CACHE_DEFAULT_TTL_SECONDS'
    | 'GATEWAY_CACHE_REDIS_TIMEOUT_MS'
    | 'GATEWAY_CONFIG_CACHE_TTL_MS'
    | 'OUTBOUND_ALLOW_PRIVATE_ADDRESSES'
    | 'METRICS_LABEL_VALUES_MAX'
    | 'platformProviders'
  >;
  keyring: Keyring | undefined;
  /**
   * Platform providers only in-process callers may name (the knowledge hub's EMBEDDINGS_* and
   * ASK_CHAT_* defaults); tenants' routes cannot use them.
   */
  inProcessProviders?: readonly PlatformProviderSetting[] | undefined;
  redis?: Redis | undefined;
  limitsConfig?: LimitsConfig | undefined;
  /** The app's metrics registry; without it the gateway's metrics go to a private one. */
  metrics?: Pick<Metrics, 'registry'> | undefined;
}): Gateway {
  // The services that write gateway config evict the tenant from the cache on commit; the
  // cache needs `providers`, so it is bound below, before any request can write.
  const eviction = { evict: (_tenantId: string): void => {} };
  const configChanged = (tenantId: string) => eviction.evict(tenantId);
  const providers = new ProviderService(
    deps.db,
    deps.keyring,
    platformProviderConfigs(deps.config.platformProviders),
    configChanged,
    deps.config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
  );
  const routing = new RoutingService(
    deps.db,
    (name) => providers.platformProvider(name) !== undefined,
    configChanged,
  );
  const tenantConfig = new TenantConfigCache(deps.db, providers, {
    ttlMs: deps.config.GATEWAY_CONFIG_CACHE_TTL_MS,
    logger: deps.logger,
  });
  eviction.evict = (tenantId) => tenantConfig.evict(tenantId);
  const limits = createLimits({
    db: deps.db,
    logger: deps.logger,
    redis: deps.redis,
    config: deps.limitsConfig,
    tenantConfig,
  });
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
  const upstream = new UpstreamClient(
    {
      connectMs: deps.config.GATEWAY_CONNECT_TIMEOUT_MS,
      firstByteMs: deps.config.GATEWAY_FIRST_BYTE_TIMEOUT_MS,
      idleMs: deps.config.GATEWAY_IDLE_TIMEOUT_MS,
    },
    deps.config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
  );
  const invoke = new GatewayService({
    db: deps.db,
    planner: new Planner(tenantConfig),
    upstream,
    policies,
    usage,
    logger: deps.logger,
    limits,
    metrics: new GatewayMetrics(deps.metrics?.registry ?? new Registry(), policies, {
      labelValuesMax: c.METRICS_LABEL_VALUES_MAX,
    }),
    cache: createResponseCache({ redis: deps.redis, logger: deps.logger, config: deps.config }),
  });
  const calls = new InProcessModelCalls(
    invoke,
    platformProviderConfigs([...deps.config.platformProviders, ...(deps.inProcessProviders ?? [])]),
  );
  return {
    providers,
    routing,
    invoke,
    calls,
    usage,
    limits,
    tenantConfig,
    routes: [
      ...gatewayManageRoutes({ providers, routing }),
      ...gatewayOpenAIRoutes(invoke),
      ...gatewayUsageRoutes(usage),
      ...limitsRoutes(limits),
    ],
    async close() {
      await limits.close();
      await usage.flush();
      await tenantConfig.close();
      await upstream.close();
    },
  };
}
