import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import type { ModelCalls } from './gateway/index.js';
import { registerKnowledgeJobs } from './knowledge/index.js';
import type { Database } from './platform/db/database.js';
import { queueMetrics } from './platform/queue/metrics.js';
import { JobQueue } from './platform/queue/queue.js';

/**
 * The background job queue with the knowledge hub's jobs registered (the commands in src/cli/
 * add the copilot's from its factory); `start()` it to run. `rampart
 * worker` runs it on PostgreSQL; with the embedded database `serve` runs it in-process. Model
 * calls of jobs go through `calls` (the gateway's in-process entry, metered to each job's
 * tenant). With a registry, queue and job metrics are recorded there.
 */
export function createWorker(
  db: Database,
  config: Config,
  logger?: Logger,
  calls?: ModelCalls,
  registry?: Registry,
): JobQueue {
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
  registerKnowledgeJobs(queue, { db, config, logger, calls, registry });
  return queue;
}
