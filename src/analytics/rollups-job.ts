import type { Logger } from 'pino';
import type { Database } from '../platform/db/database.js';
import { messageOf } from '../platform/checked.js';
import type { JobHandler } from '../platform/queue/queue.js';
import { rollUpLedger, scheduleRollups, type RollupStep } from './rollups-store.js';

/** The queue job that rolls one tenant's new ledger rows up (payload: {}; the tenant is the job's). */
export const ROLLUP_JOB = 'analytics.rollup';

/** One exactly-once rollup step for a tenant (the job's work; export and tests call it too). */
export function rollUpTenant(db: Database, tenantId: string): Promise<RollupStep> {
  return db.withTenant({ tenantId, groups: [] }, (tx) => rollUpLedger(tx));
}

/** The job handler: idempotent by construction (a rerun finds nothing new below its cursor). */
export function rollupJobHandler(db: Database): JobHandler {
  return {
    run: async (job) => {
      await rollUpTenant(db, job.tenantId);
    },
  };
}

/**
 * Enqueues rollup jobs every `intervalMs` for the tenants whose ledger has rows not rolled up
 * (one waiting job per tenant at most). Runs in each worker process; two workers scheduling at
 * once may queue two jobs for a tenant, which is harmless: the cursor lock makes them take turns
 * and the second finds nothing new.
 */
export class RollupScheduler {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly intervalMs: number,
    private readonly logger?: Logger | undefined,
  ) {}

  /** Enqueues the due jobs now; returns how many. */
  async tick(): Promise<number> {
    return this.db.withOperator((tx) => scheduleRollups(tx, ROLLUP_JOB));
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      if (this.#running) return;
      this.#running = this.tick()
        .then(() => undefined)
        .catch((err: unknown) =>
          this.logger?.warn(
            { err: { message: messageOf(err) } },
            'scheduling usage rollups failed',
          ),
        )
        .finally(() => (this.#running = undefined));
    }, this.intervalMs).unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
