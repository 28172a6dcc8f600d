import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { readPlatformProviders, type PlatformProviderSetting } from './config-providers.js';
import { bool, int, processCount, url, type SettingDef } from './config-schema.js';
import { gatewaySettings } from './config-gateway.js';
import { copilotSettings } from './config-copilot.js';
import { evalSettings } from './config-evals.js';
import { webhookSettings } from './config-webhooks.js';
import { analyticsSettings } from './config-analytics.js';
import { governanceSettings } from './config-governance.js';
import { subjectSettings } from './config-subjects.js';
import {
  knowledgeSettings,
  readKnowledgeModels,
  type KnowledgeModels,
} from './config-knowledge.js';
import { sqlSettings } from './config-sql.js';
import { mcpSettings } from './config-mcp.js';
import { authSettings, sessionSettings, tokenSettings } from './config-auth.js';

/**
 * The one place that reads the environment. Every setting is declared once here, with
 * its schema, default and description; the settings table of docs/configuration.md is
 * checked against this list by a test, so the two cannot drift. Feature settings are declared beside this file
 * (config-gateway.ts, config-knowledge.ts, config-sql.ts) and spread in here, in the table's order.
 */

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
  RAMPART_CACHE_DIR: {
    schema: z.string().min(1).optional(),
    description:
      "Where `npm install` leaves what makes start-up fast (transformed sources in ts/, the embedded database's migrated template); read-only is fine. Unset: node_modules/.cache/rampart.",
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
  ...gatewaySettings,
  API_KEY_CACHE_TTL_MS: {
    schema: int(0, 3_600_000).default(30_000),
    description:
      'How long a verified API key is cached per process. Revocations are pushed to every instance at once regardless.',
    defaultText: '30000',
  },
  ...authSettings,
  ...sessionSettings,
  ...tokenSettings,
  AUDIT_HEAD_INTERVAL_MS: {
    schema: int(0, 86_400_000).default(60_000),
    description:
      "How often each audit chain's signed head is restated in the log (it is also logged after every change); 0: only after changes.",
    defaultText: '60000',
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
  RAMPART_WORKERS: {
    schema: processCount(256).default(1),
    description:
      '`rampart serve` only: HTTP worker processes sharing PORT (`auto`: one per available CPU). More than 1 needs DATABASE_URL; without REDIS_URL, rate limits are per process. See docs/operations.md.',
    defaultText: '1',
  },
  SHUTDOWN_TIMEOUT_MS: {
    schema: int(0, 600_000).default(10_000),
    description: 'On SIGTERM, how long in-flight requests may take before connections are closed.',
    defaultText: '10000',
  },
  METRICS_TOKEN: {
    schema: z.string().min(8).optional(),
    secret: true,
    description:
      'When set, GET /metrics requires `Authorization: Bearer <token>`. Unset: /metrics answers only clients on the loopback interface (127.0.0.1, ::1) whose request carries no forwarding header. See docs/operations.md.',
  },
  METRICS_LABEL_VALUES_MAX: {
    schema: int(1, 100_000).default(100),
    description:
      'Distinct values each tenant-chosen metric label (gateway alias, provider, model) keeps per process; later values are recorded as `other`.',
    defaultText: '100',
  },
  WORKER_METRICS_PORT: {
    schema: int(1, 65535).optional(),
    description:
      '`rampart worker` only: serve GET /metrics (job failures, chunks indexed) on this port, on HOST; same access rule as the API (METRICS_TOKEN, else local clients only).',
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
  ...knowledgeSettings,
  ...copilotSettings,
  ...sqlSettings,
  ...evalSettings,
  ...webhookSettings,
  ...analyticsSettings,
  ...governanceSettings,
  ...subjectSettings,
  ...mcpSettings,
} satisfies Record<string, SettingDef>;

export type SettingName = keyof typeof settings;
type Values = { [K in SettingName]: z.output<(typeof settings)[K]['schema']> };

export type Config = Values & {
  /** The raw values of every secret setting that is set, for log scrubbing. */
  readonly secretValues: readonly string[];
  /** Parsed from GATEWAY_PROVIDERS_FILE (empty when unset). */
  readonly platformProviders: readonly PlatformProviderSetting[];
  /** The knowledge hub's platform default models (EMBEDDINGS_*, ASK_CHAT_*), checked. */
  readonly knowledgeModels: KnowledgeModels;
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
        raw = readFileSync(env[fileVar], 'utf8').trim();
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
  // GATEWAY_ALLOW_PRIVATE_UPSTREAMS is the older name of OUTBOUND_ALLOW_PRIVATE_ADDRESSES.
  const legacyPrivate = out.GATEWAY_ALLOW_PRIVATE_UPSTREAMS;
  if (typeof legacyPrivate === 'boolean') {
    const outboundSet = (env.OUTBOUND_ALLOW_PRIVATE_ADDRESSES ?? '') !== '';
    if (!outboundSet) out.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = legacyPrivate;
    else if (out.OUTBOUND_ALLOW_PRIVATE_ADDRESSES !== legacyPrivate)
      problems.push(
        'GATEWAY_ALLOW_PRIVATE_UPSTREAMS: the older name of OUTBOUND_ALLOW_PRIVATE_ADDRESSES, set to a different value; set only OUTBOUND_ALLOW_PRIVATE_ADDRESSES',
      );
  }
  const file = out.GATEWAY_PROVIDERS_FILE;
  const platformProviders = typeof file === 'string' ? readPlatformProviders(file, problems) : [];
  const knowledgeModels = readKnowledgeModels(out, platformProviders, problems);
  // The embedded PGlite data directory can be opened by one process only.
  if (typeof out.RAMPART_WORKERS === 'number' && out.RAMPART_WORKERS > 1 && !out.DATABASE_URL)
    problems.push(
      `RAMPART_WORKERS: ${out.RAMPART_WORKERS} worker processes need DATABASE_URL (the embedded database can be opened by one process only); set DATABASE_URL or RAMPART_WORKERS=1`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
  for (const p of platformProviders) secretValues.push(p.apiKey);
  return { ...(out as Values), secretValues, platformProviders, knowledgeModels };
}
