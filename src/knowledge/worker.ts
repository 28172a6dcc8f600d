import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import { queueMetrics } from '../platform/queue/metrics.js';
import { JobQueue } from '../platform/queue/queue.js';
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

/**
 * The background worker with the knowledge hub's jobs registered; `start()` it to run. Its
 * embedding calls go through `calls` (the gateway's in-process entry; required when a tenant
 * or the platform names an embedding model). With a registry, it records job failures and
 * chunks indexed there (an embedded `serve` passes the API's, so /metrics shows them).
 */
export function createWorker(
  db: Database,
  config: Config,
  logger?: Logger,
  calls?: ModelCalls,
  registry?: Registry,
): JobQueue {
  const embedders = knowledgeModels(db, config, calls);
  const queue = new JobQueue(
    db,
    {
      pollIntervalMs: config.QUEUE_POLL_INTERVAL_MS,
      concurrency: config.QUEUE_CONCURRENCY,
      leaseMs: config.QUEUE_LEASE_MS,
      retryBaseMs: config.QUEUE_RETRY_BASE_MS,
      retryMaxMs: config.QUEUE_RETRY_MAX_MS,
      retryJitter: 0.2,
    },
    logger,
    registry ? queueMetrics(registry) : undefined,
  );
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
  return queue;
}
