import { z } from 'zod';
import { bool, int, url, type SettingDef } from './config-schema.js';

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
