import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { readPlatformProviders, type PlatformProviderSetting } from './config-providers.js';

/**
 * The one place that reads the environment. Every setting is declared once here, with
 * its schema, default and description; the README's settings table is checked against
 * this list by a test, so the two cannot drift.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const url = z.string().url();

interface SettingDef {
  schema: z.ZodType;
  description: string;
  /** Secret settings also accept NAME_FILE and are redacted everywhere. */
  secret?: boolean;
  /** Shown in the README table; omitted means "unset". */
  defaultText?: string;
}

export const settings = {
  HOST: {
    schema: z.string().min(1).default('0.0.0.0'),
    description: 'Interface the HTTP server binds to.',
    defaultText: '0.0.0.0',
  },
  PORT: {
    schema: int(0, 65535).default(8080),
    description: 'HTTP port (0 picks a free port).',
    defaultText: '8080',
  },
  RAMPART_DATA_DIR: {
    schema: z.string().min(1).default('./.rampart'),
    description:
      'Directory for the embedded database and generated local secrets (used when DATABASE_URL is unset).',
    defaultText: './.rampart',
  },
  DATABASE_URL: {
    schema: url.optional(),
    secret: true,
    description:
      'PostgreSQL URL the service connects with. Its login should be a member of the `rampart_app` role only (not owner, not superuser, no BYPASSRLS). Unset: embedded PGlite in RAMPART_DATA_DIR.',
  },
  DATABASE_ADMIN_URL: {
    schema: url.optional(),
    secret: true,
    description:
      'PostgreSQL URL used by `rampart migrate` (the owning role). Defaults to DATABASE_URL.',
  },
  DATABASE_POOL_MAX: {
    schema: int(1, 500).default(10),
    description: 'Maximum PostgreSQL connections per process.',
    defaultText: '10',
  },
  DATABASE_STATEMENT_TIMEOUT_MS: {
    schema: int(0, 3_600_000).default(30_000),
    description: 'statement_timeout for application queries (0 disables).',
    defaultText: '30000',
  },
  REDIS_URL: {
    schema: url.optional(),
    secret: true,
    description:
      'Redis URL for shared limits, counters and pub/sub. Unset: in-process equivalents (single instance).',
  },
  RAMPART_ROOT_TOKEN: {
    schema: z.string().min(24, 'must be at least 24 characters').optional(),
    secret: true,
    description: 'Operator token for the /admin/v1 API. Unset: the admin API answers 404.',
  },
  RAMPART_SECRET_KEY: {
    schema: z.string().min(32, 'must be at least 32 characters').optional(),
    secret: true,
    description:
      'Server secret keying the API-key hashes (HMAC-SHA-256). Required with DATABASE_URL (all replicas must share it); embedded mode generates one in RAMPART_DATA_DIR.',
  },
  RAMPART_MASTER_KEY: {
    schema: z.string().optional(),
    secret: true,
    description:
      'Master key (base64, 32 bytes) for envelope encryption of stored credentials. Embedded mode generates one in RAMPART_DATA_DIR.',
  },
  RAMPART_MASTER_KEY_PREVIOUS: {
    schema: z.string().optional(),
    secret: true,
    description:
      'Former master keys (comma-separated base64), still accepted for decryption while stored credentials are re-wrapped under RAMPART_MASTER_KEY.',
  },
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
      "LLM gateway limits when Redis is unreachable: 'open' enforces each instance's local limits, 'closed' answers 503.",
    defaultText: 'open',
  },
  RATE_LIMIT_REDIS_TIMEOUT_MS: {
    schema: int(10, 10_000).default(150),
    description:
      'LLM gateway limits: longest wait for one Redis limit check before it counts as a failure (a circuit breaker then skips Redis for 5 s).',
    defaultText: '150',
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
  GATEWAY_ALLOW_PRIVATE_UPSTREAMS: {
    schema: bool.default(false),
    description:
      'Let tenant-configured providers reach loopback, private, link-local and other non-public addresses (checked when the provider is saved and again on every connection). Platform providers from GATEWAY_PROVIDERS_FILE are always allowed.',
    defaultText: 'false',
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
  API_KEY_CACHE_TTL_MS: {
    schema: int(0, 3_600_000).default(30_000),
    description:
      'How long a verified API key is cached per process. Revocations are pushed to every instance at once regardless.',
    defaultText: '30000',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    description: 'pino log level.',
    defaultText: 'info',
  },
  HTTP_BODY_LIMIT: {
    schema: int(1024, 1024 * 1024 * 1024).default(1_048_576),
    description: 'Maximum JSON request body in bytes.',
    defaultText: '1048576',
  },
  TRUST_PROXY: {
    schema: bool.default(false),
    description: 'Trust X-Forwarded-* headers (behind a load balancer).',
    defaultText: 'false',
  },
  SHUTDOWN_TIMEOUT_MS: {
    schema: int(0, 600_000).default(10_000),
    description: 'On SIGTERM, how long in-flight requests may take before connections are closed.',
    defaultText: '10000',
  },
  METRICS_TOKEN: {
    schema: z.string().min(8).optional(),
    secret: true,
    description: 'When set, GET /metrics requires `Authorization: Bearer <token>`.',
  },
  WORKER_METRICS_PORT: {
    schema: int(1, 65535).optional(),
    description:
      '`rampart worker` only: serve GET /metrics (job failures, chunks indexed) on this port, on HOST; same METRICS_TOKEN rule as the API.',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    schema: url.optional(),
    description: 'OTLP/HTTP endpoint; when set, OpenTelemetry tracing is on.',
  },
  OTEL_SERVICE_NAME: {
    schema: z.string().min(1).default('rampart'),
    description: 'service.name on exported spans.',
    defaultText: 'rampart',
  },
  DOCUMENT_MAX_BYTES: {
    schema: int(1, 1024 * 1024 * 1024).default(52_428_800),
    description: 'Knowledge hub: largest document accepted for ingestion, in bytes (larger → 413).',
    defaultText: '52428800',
  },
  INGEST_MAX_PAGES: {
    schema: int(1, 1_000_000).default(5_000),
    description: 'Knowledge hub: a PDF with more pages fails ingestion (guards against bombs).',
    defaultText: '5000',
  },
  INGEST_MAX_TEXT_CHARS: {
    schema: int(1_000, 1_000_000_000).default(20_000_000),
    description:
      'Knowledge hub: a document whose extracted text exceeds this many characters fails ingestion.',
    defaultText: '20000000',
  },
  CHUNK_MAX_TOKENS: {
    schema: int(32, 8_192).default(512),
    description: 'Knowledge hub: largest chunk, in tokens (o200k tokenizer).',
    defaultText: '512',
  },
  CHUNK_OVERLAP_TOKENS: {
    schema: int(0, 4_096).default(64),
    description:
      'Knowledge hub: tokens of trailing sentences repeated at the start of the next chunk.',
    defaultText: '64',
  },
  PII_MASKING: {
    schema: bool.default(true),
    description:
      'Knowledge hub: mask e-mails, phone numbers, SSNs, card numbers and IBANs before indexing.',
    defaultText: 'true',
  },
  EMBEDDINGS_BASE_URL: {
    schema: url.optional(),
    description:
      'Knowledge hub: base URL of an OpenAI-compatible embeddings API (e.g. `https://api.openai.com/v1`); unset → the built-in local embedder.',
  },
  EMBEDDINGS_MODEL: {
    schema: z.string().min(1).optional(),
    description: 'Knowledge hub: embedding model name sent to `EMBEDDINGS_BASE_URL`.',
  },
  EMBEDDINGS_DIMENSIONS: {
    schema: int(1, 65_536).default(1024),
    description:
      'Knowledge hub: dimension of the configured embedding model; must be 1024 (the `chunks.embedding` column).',
    defaultText: '1024',
  },
  EMBEDDINGS_API_KEY: {
    schema: z.string().min(1).optional(),
    secret: true,
    description: 'Knowledge hub: bearer key for `EMBEDDINGS_BASE_URL`.',
  },
  EMBEDDINGS_BATCH_SIZE: {
    schema: int(1, 2048).default(64),
    description: 'Knowledge hub: texts per embeddings request.',
    defaultText: '64',
  },
  EMBEDDINGS_MAX_RETRIES: {
    schema: int(0, 10).default(4),
    description: 'Knowledge hub: retries of an embeddings request answered 429/5xx or failing.',
    defaultText: '4',
  },
  EMBEDDINGS_RETRY_BASE_MS: {
    schema: int(0, 60_000).default(500),
    description: 'Knowledge hub: first retry delay of an embeddings request (doubles each time).',
    defaultText: '500',
  },
  ASK_CHAT_BASE_URL: {
    schema: url.optional(),
    description:
      'Knowledge hub: base URL of an OpenAI-compatible chat API for generative `/v1/ask`; unset → extractive answers.',
  },
  ASK_CHAT_MODEL: {
    schema: z.string().min(1).optional(),
    description: 'Knowledge hub: chat model used by `/v1/ask`.',
  },
  ASK_CHAT_API_KEY: {
    schema: z.string().min(1).optional(),
    secret: true,
    description: 'Knowledge hub: bearer key for `ASK_CHAT_BASE_URL`.',
  },
  ASK_CHAT_TIMEOUT_MS: {
    schema: int(100, 600_000).default(30_000),
    description:
      'Knowledge hub: longest wait for a generated answer before `/v1/ask` falls back to extractive.',
    defaultText: '30000',
  },
  QUEUE_POLL_INTERVAL_MS: {
    schema: int(50, 600_000).default(1_000),
    description: 'Job queue: how often a worker looks for due jobs when no notification arrives.',
    defaultText: '1000',
  },
  QUEUE_CONCURRENCY: {
    schema: int(1, 256).default(2),
    description: 'Job queue: jobs one worker process runs at once.',
    defaultText: '2',
  },
  QUEUE_LEASE_MS: {
    schema: int(1_000, 86_400_000).default(300_000),
    description:
      'Job queue: a claimed job whose worker stops renewing its lease this long is run again by another worker.',
    defaultText: '300000',
  },
  QUEUE_MAX_ATTEMPTS: {
    schema: int(1, 100).default(5),
    description: 'Job queue: attempts before a job is dead (kept for inspection, not retried).',
    defaultText: '5',
  },
  QUEUE_RETRY_BASE_MS: {
    schema: int(0, 3_600_000).default(5_000),
    description:
      'Job queue: delay before the first retry; doubles on each further attempt (with ±20% jitter).',
    defaultText: '5000',
  },
  QUEUE_RETRY_MAX_MS: {
    schema: int(0, 86_400_000).default(600_000),
    description: 'Job queue: longest delay between retries.',
    defaultText: '600000',
  },
} satisfies Record<string, SettingDef>;

export type SettingName = keyof typeof settings;
type Values = { [K in SettingName]: z.output<(typeof settings)[K]['schema']> };

export type Config = Values & {
  /** The raw values of every secret setting that is set, for log scrubbing. */
  readonly secretValues: readonly string[];
  /** Parsed from GATEWAY_PROVIDERS_FILE (empty when unset). */
  readonly platformProviders: readonly PlatformProviderSetting[];
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses `env` (default: process.env) into a typed Config, or throws ConfigError naming each bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  const secretValues: string[] = [];
  for (const [name, def] of Object.entries(settings) as [SettingName, SettingDef][]) {
    let raw = env[name];
    const fileVar = `${name}_FILE`;
    if (def.secret && env[fileVar] !== undefined && env[fileVar] !== '') {
      if (raw !== undefined && raw !== '') {
        problems.push(`${name}: set either ${name} or ${fileVar}, not both`);
        continue;
      }
      try {
        raw = readFileSync(env[fileVar] as string, 'utf8').trim();
      } catch (err) {
        problems.push(`${fileVar}: cannot read ${env[fileVar]}: ${(err as Error).message}`);
        continue;
      }
    }
    if (raw === '') raw = undefined;
    const parsed = def.schema.safeParse(raw);
    if (!parsed.success) {
      const msg = parsed.error.issues.map((i) => i.message).join('; ');
      // Never echo a secret's value back in an error.
      problems.push(
        def.secret ? `${name}: ${msg}` : `${name}: ${msg} (got ${JSON.stringify(raw)})`,
      );
      continue;
    }
    out[name] = parsed.data;
    if (def.secret && typeof raw === 'string') secretValues.push(raw);
  }
  const file = out.GATEWAY_PROVIDERS_FILE;
  const platformProviders = typeof file === 'string' ? readPlatformProviders(file, problems) : [];
  if (problems.length > 0) throw new ConfigError(problems);
  for (const p of platformProviders) secretValues.push(p.apiKey);
  return { ...(out as Values), secretValues, platformProviders };
}
