import { Gauge, type Registry } from 'prom-client';
import type { Database } from '../db/database.js';

/**
 * Queue depth by kind and state (queued, running, dead), read from the database at scrape time:
 * any API replica reports the shared queue, which is what autoscaling workers on depth needs.
 */
export function registerQueueMetrics(registry: Registry, db: Database): void {
  new Gauge({
    name: 'rampart_jobs',
    help: 'Jobs in the durable queue by kind and state (queued, running, dead).',
    labelNames: ['kind', 'state'],
    registers: [registry],
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
