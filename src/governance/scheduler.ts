import type { Logger } from 'pino';
import type { Database } from '../platform/db/database.js';
import { scheduleGovernance } from './store.js';

/**
 * The cron of governance, run by every worker: each tick asks the database to open this
 * period's retention sweeps and the purges now due (rampart_schedule_governance). The database
 * decides, under unique keys, so any number of workers ticking at once enqueue each sweep and
 * each purge once.
 */
export class GovernanceScheduler {
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: {
      db: Database;
      periodSeconds: number;
      tickMs: number;
      logger?: Logger | undefined;
    },
  ) {}

  /** One tick: what it enqueued (kind and tenant), for tests and logs. */
  async tick(): Promise<{ kind: string; tenantId: string }[]> {
    const rows = await this.deps.db.withOperator((op) =>
      scheduleGovernance(op, this.deps.periodSeconds),
    );
    const enqueued = rows.map((r) => ({ kind: r.kind, tenantId: r.tenant_ref }));
    if (enqueued.length) this.deps.logger?.info({ enqueued }, 'governance jobs enqueued');
    return enqueued;
  }

  start(): void {
    if (this.#timer) return;
    const run = (): void => {
      this.#ticking = this.tick().catch((err: unknown) =>
        this.deps.logger?.warn({ err }, 'governance scheduler tick failed'),
      );
    };
    run();
    this.#timer = setInterval(run, this.deps.tickMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }
}
