import { Counter, Gauge, type Registry } from 'prom-client';
import type { Database } from '../db/database.js';

/**
 * Queue depth by kind and state (queued, running, dead), read from the database at scrape time:
 * any API replica reports the shared queue, which is what autoscaling workers on depth needs.
 */
export function registerQueueMetrics(registry: Registry, db: Database): void {
  if (registry.getSingleMetric('rampart_jobs')) return;
  new Gauge({
    name: 'rampart_jobs',
    help: 'Jobs in the durable queue by kind and state (queued, running, dead).',
    labelNames: ['kind', 'state'],
    registers: [registry],
    // Every worker process of a cluster reads the same shared queue: summing would count it N times.
    aggregator: 'max',
    async collect() {
      this.reset();
      const { rows } = await db.withOperator((tx) =>
        tx.query<{ kind: string; state: string; n: string | number }>(
          `SELECT kind, state, n FROM rampart_job_counts()`,
        ),
      );
      for (const r of rows) this.set({ kind: r.kind, state: r.state }, Number(r.n));
    },
  });
}

/** What a worker records about the attempts it runs. */
export interface QueueMetrics {
  /** A failed attempt: `retry` when the job is queued again, `dead` when it was the last. */
  jobFailed(kind: string, outcome: 'retry' | 'dead'): void;
}

/**
 * Failed job attempts by kind and outcome, counted by the worker that ran them. Idempotent per
 * registry (an embedded `serve` runs its worker in-process, on the API's registry).
 */
export function queueMetrics(registry: Registry): QueueMetrics {
  const failures =
    (registry.getSingleMetric('rampart_job_failures_total') as
      Counter<'kind' | 'outcome'> | undefined) ??
    new Counter({
      name: 'rampart_job_failures_total',
      help: 'Failed job attempts by kind and outcome (retry: queued again; dead: attempts used up).',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    });
  return { jobFailed: (kind, outcome) => failures.inc({ kind, outcome }) };
}
