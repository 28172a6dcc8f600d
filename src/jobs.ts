import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import type { ModelCalls } from './gateway/index.js';
import { registerKnowledgeJobs } from './knowledge/index.js';
import type { Database } from './platform/db/database.js';
import { queueMetrics } from './platform/queue/metrics.js';
import { JobQueue, type JobHandler } from './platform/queue/queue.js';

/**
 * The background job queue with the knowledge hub's jobs registered (startBackground adds the
 * other features' and starts it). `rampart worker` runs it on PostgreSQL; with the embedded database `serve` runs it in-process. Model
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

/** A feature's background job handlers, by kind. */
export interface JobSource {
  jobs: Record<string, JobHandler>;
}

/** A periodic task that queues jobs (usage rollups, governance cron). */
export interface Scheduler {
  start(): void;
  stop(): Promise<void>;
}

/**
 * The background work of a process that runs jobs (`rampart worker`, or `serve` on the embedded
 * database): every feature's handlers registered on `queue`, then the queue and the schedulers
 * started. The one list of what runs in the background, for both commands. `stop` stops the
 * schedulers first (nothing new is queued), then lets the queue finish within `timeoutMs`.
 */
export async function startBackground(
  queue: JobQueue,
  sources: JobSource[],
  schedulers: Scheduler[],
): Promise<{ stop(timeoutMs: number): Promise<void> }> {
  for (const source of sources)
    for (const [kind, handler] of Object.entries(source.jobs)) queue.register(kind, handler);
  await queue.start();
  for (const s of schedulers) s.start();
  return {
    async stop(timeoutMs) {
      for (const s of schedulers) await s.stop();
      await queue.stop(timeoutMs);
    },
  };
}
