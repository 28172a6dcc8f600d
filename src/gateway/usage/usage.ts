import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.js';
import type { Principal } from '../../platform/http/principal.js';
import { builtinPrice } from '../config/prices.js';
import {
  insertUsageColumns,
  usageColumns,
  summarizeUsage,
  type BufferedUsage,
  type UsageEvent,
  type UsageGroupBy,
  type UsageSummaryRow,
} from './usage-store.js';

/**
 * Writes usage rows off the response's critical path, in batches: events wait in an in-process
 * buffer that is written every `flushMs` or as soon as it holds `batchMax` rows, one multi-row
 * INSERT per tenant transaction. Loss window: the rows still buffered or in flight when the
 * process dies without closing (at most `flushMs` of traffic); close() writes everything.
 */
export class UsageRecorder {
  #buffer = new Map<string, BufferedUsage[]>();
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly opts: { flushMs: number; batchMax: number } = { flushMs: 250, batchMax: 200 },
  ) {}

  record(principal: Principal, event: UsageEvent): void {
    const batch = this.#buffer.get(principal.tenantId) ?? [];
    batch.push({
      event,
      at: new Date(),
      builtin: event.targetModel ? builtinPrice(event.targetModel) : undefined,
    });
    this.#buffer.set(principal.tenantId, batch);
    this.#size += 1;
    if (this.#size >= this.opts.batchMax) this.#write();
    else this.#timer ??= setTimeout(() => this.#write(), this.opts.flushMs).unref();
  }

  /** Starts writing everything buffered now (one transaction per tenant). */
  #write(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const buffer = this.#buffer;
    this.#buffer = new Map();
    this.#size = 0;
    for (const [tenantId, batch] of buffer) {
      const write = usageColumns(batch)
        .then((columns) =>
          // A tenant-only context: the rows carry their own key and user ids.
          this.db.withTenant({ tenantId, groups: [] }, (tx) => insertUsageColumns(tx, columns)),
        )
        .catch((err: unknown) =>
          this.logger.error(
            { err, tenantId, rows: batch.length, requestIds: batch.map((b) => b.event.requestId) },
            'recording gateway usage failed; these rows are lost',
          ),
        )
        .finally(() => this.#pending.delete(write));
      this.#pending.add(write);
    }
  }

  /** Writes everything recorded so far and waits for it to commit. */
  async flush(): Promise<void> {
    this.#write();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** Aggregated usage of the caller's tenant over [from, to). */
  summary(
    principal: Principal,
    groupBy: UsageGroupBy,
    from: Date,
    to: Date,
  ): Promise<UsageSummaryRow[]> {
    return this.db.withTenant(principal, (tx) => summarizeUsage(tx, groupBy, from, to));
  }
}
