import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.js';
import type { BudgetScope } from './budgets.js';
import { addSpentTicks } from './store.js';
import { announceBudgetThresholds } from './thresholds.js';

type Pending = Map<string, { scope: BudgetScope; ticks: number }>;

/**
 * With Redis (or in process on the embedded database), budgets are enforced there and Postgres
 * `budget_spend` is the durable record of settled spend, written here off the response's path: settled ticks are summed per
 * scope in memory and added every `flushMs` in one transaction per tenant. A failed write is
 * put back and retried with the next batch. Loss window: what is buffered when the process dies
 * without closing (at most `flushMs` of settled spend; Redis still counts it until it loses the
 * key); close() writes everything.
 */
export class SpendWriter {
  #buffer = new Map<string, Pending>();
  #timer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly flushMs: number,
  ) {}

  add(tenantId: string, scopes: readonly BudgetScope[], ticks: number): void {
    if (ticks <= 0 || scopes.length === 0) return;
    let tenant = this.#buffer.get(tenantId);
    if (!tenant) this.#buffer.set(tenantId, (tenant = new Map()));
    for (const scope of scopes) {
      const k = `${scope.scope}:${scope.scopeId}:${scope.periodStart}`;
      const item = tenant.get(k);
      if (item) item.ticks += ticks;
      else tenant.set(k, { scope, ticks });
    }
    this.#timer ??= setTimeout(() => this.#write(), this.flushMs).unref();
  }

  #write(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const buffer = this.#buffer;
    this.#buffer = new Map();
    for (const [tenantId, items] of buffer) {
      const write = this.db
        .withTenant({ tenantId, groups: [] }, async (tx) => {
          await addSpentTicks(tx, [...items.values()]);
          // In the same transaction: a threshold is announced exactly when its spend commits.
          await announceBudgetThresholds(
            tx,
            [...items.values()].map((it) => it.scope),
          );
        })
        .catch((err: unknown) => {
          this.logger.error(
            { err: { message: (err as Error).message }, tenantId },
            'writing settled budget spend failed; retrying with the next batch',
          );
          for (const it of items.values()) this.add(tenantId, [it.scope], it.ticks);
        })
        .finally(() => this.#pending.delete(write));
      this.#pending.add(write);
    }
  }

  /** Writes everything settled so far and waits for it to commit (one retry pass on failure). */
  async flush(): Promise<void> {
    for (let pass = 0; pass < 2 && (this.#buffer.size > 0 || this.#pending.size > 0); pass++) {
      this.#write();
      while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    }
  }
}
