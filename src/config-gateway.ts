import { z } from 'zod';
import { bool, int, type SettingDef } from './config-schema.js';

/** Settings of the LLM gateway (timeouts, retries, breakers, limits, budgets, cache, providers). */
export const gatewaySettings = {
  GATEWAY_CONNECT_TIMEOUT_MS: {
    schema: int(100, 600_000).default(10_000),
    description: 'LLM gateway: timeout for connecting to an upstream provider.',
    defaultText: '10000',
  },
  GATEWAY_FIRST_BYTE_TIMEOUT_MS: {
    schema: int(100, 3_600_000).default(120_000),
    description: "LLM gateway: timeout for an upstream's response headers (time to first byte).",
    defaultText: '120000',
  },
  GATEWAY_IDLE_TIMEOUT_MS: {
    schema: int(100, 3_600_000).default(120_000),
    description:
      'LLM gateway: longest silence allowed between bytes of an upstream response or stream.',
    defaultText: '120000',
  },
  RATE_LIMIT_REDIS_FAILURE_MODE: {
    schema: z.enum(['open', 'closed']).default('open'),
    description:
      "LLM gateway rate limits when Redis is unreachable: 'open' enforces each instance's local limits, 'closed' answers 503. Requests with a budget get 503 either way.",
    defaultText: 'open',
  },
  RATE_LIMIT_REDIS_TIMEOUT_MS: {
    schema: int(10, 10_000).default(150),
    description:
      'LLM gateway limits: longest wait for one Redis limit check before it counts as a failure (a circuit breaker then skips Redis for 5 s).',
    defaultText: '150',
  },
  RATE_LIMIT_REDIS_LEASES: {
    schema: bool.default(true),
    description:
      'LLM gateway limits with REDIS_URL: while a limit or budget is far from reached, admit requests from blocks Redis granted to this instance (no Redis round trip per request; unused blocks go back after 2 s). Near a limit every request asks Redis.',
    defaultText: 'true',
  },
  GATEWAY_MAX_OUTPUT_TOKENS_ESTIMATE: {
    schema: int(1, 1_000_000).default(4096),
    description:
      'LLM gateway budgets: output tokens reserved for a request that sets no max_tokens.',
    defaultText: '4096',
  },
  GATEWAY_CONFIG_CACHE_TTL_MS: {
    schema: int(0, 3_600_000).default(30_000),
    description:
      "LLM gateway: longest time an instance serves a tenant's cached routes, providers, prices and limits. Changes reach every instance at once by NOTIFY; this bounds a missed notification. 0 disables the cache.",
    defaultText: '30000',
  },
  GATEWAY_BUDGET_RESERVATION_TTL_MS: {
    schema: int(1, 86_400_000).default(660_000),
    description:
      "LLM gateway budgets: age after which a request's unsettled budget reservation (its replica died) is reclaimed by any replica; keep it above the longest request.",
    defaultText: '660000',
  },
  GATEWAY_BUDGET_FLUSH_MS: {
    schema: int(1, 60_000).default(250),
    description:
      'LLM gateway budgets with Redis: settled spend is written to Postgres (the durable record) in batches at least this often.',
    defaultText: '250',
  },
  GATEWAY_RETRY_ATTEMPTS: {
    schema: int(1, 10).default(2),
    description:
      'LLM gateway: tries per upstream target (first call included) on 429/5xx/connect errors/timeouts, before falling back to the next target.',
    defaultText: '2',
  },
  GATEWAY_RETRY_BASE_MS: {
    schema: int(1, 60_000).default(200),
    description:
      'LLM gateway: initial retry backoff; it doubles per retry, with full jitter, up to GATEWAY_RETRY_MAX_DELAY_MS.',
    defaultText: '200',
  },
  GATEWAY_RETRY_MAX_DELAY_MS: {
    schema: int(1, 600_000).default(5_000),
    description:
      "LLM gateway: longest wait before a retry, including one asked for by an upstream's Retry-After; a longer Retry-After moves on to the next target.",
    defaultText: '5000',
  },
  GATEWAY_BREAKER_THRESHOLD: {
    schema: int(1, 1_000).default(5),
    description:
      'LLM gateway: consecutive failures after which a target (tenant, provider, model) is skipped without being contacted.',
    defaultText: '5',
  },
  GATEWAY_BREAKER_COOLDOWN_MS: {
    schema: int(10, 3_600_000).default(30_000),
    description:
      'LLM gateway: how long an open circuit breaker skips its target before letting one probe request through.',
    defaultText: '30000',
  },
  GATEWAY_USAGE_FLUSH_MS: {
    schema: int(1, 60_000).default(250),
    description:
      'LLM gateway: usage rows are buffered in memory and written in batches at least this often (the loss window on a crash).',
    defaultText: '250',
  },
  GATEWAY_PROVIDERS_FILE: {
    schema: z.string().min(1).optional(),
    description:
      'JSON file of platform-wide LLM providers every tenant may route to: `{"providers": [{"name", "type", "baseUrl"?, "apiKey" | "apiKeyFile", "headers"?}]}`. Their keys are treated as secrets (never logged or returned).',
  },
  OUTBOUND_ALLOW_PRIVATE_ADDRESSES: {
    schema: bool.default(false),
    description:
      'Let every outbound address a tenant configures (LLM providers, copilot HTTP tools, SQL sources, MCP servers, webhooks) reach loopback, private, link-local and other non-public addresses; checked when saved and again on every connection and redirect. Platform providers from GATEWAY_PROVIDERS_FILE are always allowed.',
    defaultText: 'false',
  },
  GATEWAY_ALLOW_PRIVATE_UPSTREAMS: {
    schema: bool.optional(),
    description:
      'Deprecated older name of OUTBOUND_ALLOW_PRIVATE_ADDRESSES, still honoured when that is unset; setting both to different values is a configuration error.',
  },
  GATEWAY_USAGE_BATCH_MAX: {
    schema: int(1, 10_000).default(200),
    description: 'LLM gateway: a usage buffer holding this many rows is written at once.',
    defaultText: '200',
  },
  GATEWAY_CACHE_MAX_ENTRIES: {
    schema: int(1, 10_000_000).default(10_000),
    description:
      'LLM gateway response cache without Redis: most responses kept in memory per process (least recently used evicted first).',
    defaultText: '10000',
  },
  GATEWAY_CACHE_MAX_BYTES: {
    schema: int(1024, 64 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    description:
      'LLM gateway response cache without Redis: most bytes of stored responses per process; a response larger than a tenth of it is not cached.',
    defaultText: '67108864',
  },
  GATEWAY_CACHE_DEFAULT_TTL_SECONDS: {
    schema: int(1, 7 * 24 * 3600).default(300),
    description:
      'LLM gateway response cache: lifetime of an entry cached because of `x-rampart-cache: on` with no `x-rampart-cache-ttl` (a route sets its own).',
    defaultText: '300',
  },
  GATEWAY_CACHE_REDIS_TIMEOUT_MS: {
    schema: int(5, 10_000).default(50),
    description:
      'LLM gateway response cache with REDIS_URL: longest wait for a cache read; slower or failed reads count as misses (Redis is then skipped for 5 s).',
    defaultText: '50',
  },
} satisfies Record<string, SettingDef>;
