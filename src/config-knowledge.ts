import { z } from 'zod';
import type { PlatformProviderSetting } from './config-providers.js';
import { bool, int, url, type SettingDef } from './config-schema.js';

/** The dimension of `chunks.embedding` (migration 0002): every embedding model must produce it. */
export const STORED_EMBEDDING_DIMENSION = 1024;

/** Settings of the knowledge hub (documents, ingestion, embeddings, answers) and its job queue. */
export const knowledgeSettings = {
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
  INGEST_EXTRACT_PROCESSES: {
    schema: int(1, 64).default(1),
    description:
      'Knowledge hub: child processes that extract document text (DOCX, PDF, …), per worker; further documents wait for a free one.',
    defaultText: '1',
  },
  INGEST_EXTRACT_MAX_HEAP_MB: {
    schema: int(64, 65_536).default(512),
    description:
      'Knowledge hub: heap limit of each extraction process, in MB; a document that needs more fails ("too large when expanded") and the process is replaced.',
    defaultText: '512',
  },
  INGEST_EXTRACT_TIMEOUT_MS: {
    schema: int(1_000, 3_600_000).default(120_000),
    description:
      'Knowledge hub: longest text extraction of one document; past it the document fails and its process is killed.',
    defaultText: '120000',
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
      'Knowledge hub: base URL of an OpenAI-compatible embeddings API (e.g. `https://api.openai.com/v1`), the platform default for tenants without an embedding alias; called through the gateway and metered to the tenant. Unset (and no EMBEDDINGS_PROVIDER) → the built-in local embedder.',
  },
  EMBEDDINGS_PROVIDER: {
    schema: z.string().min(1).optional(),
    description:
      'Knowledge hub: instead of EMBEDDINGS_BASE_URL, a provider of GATEWAY_PROVIDERS_FILE serving `EMBEDDINGS_MODEL` as the platform default.',
  },
  EMBEDDINGS_MODEL: {
    schema: z.string().min(1).optional(),
    description:
      'Knowledge hub: embedding model name sent to `EMBEDDINGS_BASE_URL` (or EMBEDDINGS_PROVIDER).',
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
    description: 'Knowledge hub: texts per embeddings request (a gateway call each).',
    defaultText: '64',
  },
  ASK_CHAT_BASE_URL: {
    schema: url.optional(),
    description:
      'Knowledge hub: base URL of an OpenAI-compatible chat API for generative `/v1/ask`, the platform default for tenants without an answer alias; called through the gateway and metered to the tenant. Unset (and no ASK_CHAT_PROVIDER) → extractive answers.',
  },
  ASK_CHAT_PROVIDER: {
    schema: z.string().min(1).optional(),
    description:
      'Knowledge hub: instead of ASK_CHAT_BASE_URL, a provider of GATEWAY_PROVIDERS_FILE serving `ASK_CHAT_MODEL` as the platform default.',
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

/** A platform default model of the knowledge hub: a platform provider and its upstream model. */
export interface PlatformModel {
  /** A GATEWAY_PROVIDERS_FILE provider, or one made of the *_BASE_URL settings. */
  provider: PlatformProviderSetting;
  model: string;
  /** True when `provider` comes from the *_BASE_URL settings (tenants' routes cannot use it). */
  fromSettings: boolean;
}

export interface KnowledgeModels {
  embeddings: PlatformModel | undefined;
  chat: PlatformModel | undefined;
}

interface ModelSettings {
  baseUrl: unknown;
  provider: unknown;
  model: unknown;
  apiKey: unknown;
}

/** Names the settings-made providers so no providers-file name (no ':' allowed) can clash. */
function platformModel(
  prefix: 'EMBEDDINGS' | 'ASK_CHAT',
  s: ModelSettings,
  file: readonly PlatformProviderSetting[],
  problems: string[],
): PlatformModel | undefined {
  const baseUrl = typeof s.baseUrl === 'string' ? s.baseUrl : undefined;
  const named = typeof s.provider === 'string' ? s.provider : undefined;
  if (baseUrl === undefined && named === undefined) return undefined;
  if (baseUrl !== undefined && named !== undefined) {
    problems.push(
      `${prefix}_PROVIDER: set either ${prefix}_BASE_URL or ${prefix}_PROVIDER, not both`,
    );
    return undefined;
  }
  if (typeof s.model !== 'string') {
    problems.push(
      `${prefix}_MODEL: must be set when ${baseUrl !== undefined ? `${prefix}_BASE_URL` : `${prefix}_PROVIDER`} is set`,
    );
    return undefined;
  }
  if (named !== undefined) {
    const provider = file.find((p) => p.name === named);
    if (!provider) {
      problems.push(
        `${prefix}_PROVIDER: '${named}' is not a provider of GATEWAY_PROVIDERS_FILE (${file.map((p) => p.name).join(', ') || 'none'})`,
      );
      return undefined;
    }
    return { provider, model: s.model, fromSettings: false };
  }
  return {
    provider: {
      name: `settings:${prefix.toLowerCase().replace('_', '-')}`,
      type: 'openai',
      baseUrl,
      apiKey: typeof s.apiKey === 'string' ? s.apiKey : '',
      headers: {},
    },
    model: s.model,
    fromSettings: true,
  };
}

/**
 * The knowledge hub's platform defaults, checked once at start-up: a missing model, an unknown
 * provider name or an unusable dimension is a configuration problem, reported like a bad value.
 */
export function readKnowledgeModels(
  v: Record<string, unknown>,
  file: readonly PlatformProviderSetting[],
  problems: string[],
): KnowledgeModels {
  const embeddings = platformModel(
    'EMBEDDINGS',
    {
      baseUrl: v.EMBEDDINGS_BASE_URL,
      provider: v.EMBEDDINGS_PROVIDER,
      model: v.EMBEDDINGS_MODEL,
      apiKey: v.EMBEDDINGS_API_KEY,
    },
    file,
    problems,
  );
  if (
    embeddings &&
    typeof v.EMBEDDINGS_DIMENSIONS === 'number' &&
    v.EMBEDDINGS_DIMENSIONS !== STORED_EMBEDDING_DIMENSION
  )
    problems.push(
      `EMBEDDINGS_DIMENSIONS: is ${v.EMBEDDINGS_DIMENSIONS}, but chunks.embedding is vector(${STORED_EMBEDDING_DIMENSION}); use a model (or its \`dimensions\` option) producing ${STORED_EMBEDDING_DIMENSION}-dimensional vectors, or add a migration for another size`,
    );
  const chat = platformModel(
    'ASK_CHAT',
    {
      baseUrl: v.ASK_CHAT_BASE_URL,
      provider: v.ASK_CHAT_PROVIDER,
      model: v.ASK_CHAT_MODEL,
      apiKey: v.ASK_CHAT_API_KEY,
    },
    file,
    problems,
  );
  return { embeddings, chat };
}

/** The providers made of *_BASE_URL settings, which only the knowledge hub may call. */
export function settingsProviders(m: KnowledgeModels): PlatformProviderSetting[] {
  return [m.embeddings, m.chat].flatMap((x) => (x?.fromSettings ? [x.provider] : []));
}
