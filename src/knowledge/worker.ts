import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { JobQueue } from '../platform/queue/queue.js';
import { KnowledgeAnalyzer } from './analyze.js';
import type { ModelCalls } from '../gateway/index.js';
import { KnowledgeModels } from './models.js';
import { ExtractionPool } from './extract/pool.js';
import { INGEST_JOB, Ingestor } from './ingest.js';
import { knowledgeMetrics } from './metrics.js';

/** The knowledge hub's models, called through `calls` (the gateway's in-process entry). */
export function knowledgeModels(
  db: Database,
  config: Config,
  calls: ModelCalls | undefined,
): KnowledgeModels {
  return new KnowledgeModels(db, calls, config.knowledgeModels, {
    batchSize: config.EMBEDDINGS_BATCH_SIZE,
    askTimeoutMs: config.ASK_CHAT_TIMEOUT_MS,
  });
}

/** What the knowledge hub's jobs need from the composition root (src/jobs.ts). */
export interface KnowledgeJobDeps {
  db: Database;
  config: Config;
  logger?: Logger | undefined;
  /** The gateway's in-process entry; required when a tenant or the platform names an embedding model. */
  calls?: ModelCalls | undefined;
  /** Where job failures and chunks indexed are counted (an embedded `serve` passes the API's). */
  registry?: Registry | undefined;
}

/** Registers the knowledge hub's background jobs (document ingestion) on `queue`. */
export function registerKnowledgeJobs(queue: JobQueue, deps: KnowledgeJobDeps): void {
  const { db, config, logger, registry } = deps;
  const embedders = knowledgeModels(db, config, deps.calls);
  const ingestor = new Ingestor(
    db,
    embedders,
    {
      extractor: new ExtractionPool({
        processes: config.INGEST_EXTRACT_PROCESSES,
        maxHeapMb: config.INGEST_EXTRACT_MAX_HEAP_MB,
        timeoutMs: config.INGEST_EXTRACT_TIMEOUT_MS,
      }),
      limits: { maxPages: config.INGEST_MAX_PAGES, maxTextChars: config.INGEST_MAX_TEXT_CHARS },
      chunking: { maxTokens: config.CHUNK_MAX_TOKENS, overlapTokens: config.CHUNK_OVERLAP_TOKENS },
      maskPii: config.PII_MASKING,
    },
    logger,
    {
      metrics: registry ? knowledgeMetrics(registry) : undefined,
      // A server's autovacuum keeps statistics fresh; the embedded database has none.
      analyzer: db.kind === 'pglite' ? new KnowledgeAnalyzer(db, logger) : undefined,
    },
  );
  queue.register(INGEST_JOB, ingestor.handler());
}
