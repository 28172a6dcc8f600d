import type { Logger } from 'pino';
import type { Database } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import { builtinPrice } from './prices.js';
import { insertUsageEvent, type UsageEvent } from './usage-store.js';

/**
 * Writes usage rows off the response's critical path: the client has its answer before the
 * row commits. Loss window: a row whose write is still in flight when the process dies
 * (bounded by one transaction per request; close() waits for every pending write).
 * Batching the writes is planned with the Redis-backed budgets.
 */
export class UsageRecorder {
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {}

  record(principal: Principal, event: UsageEvent): void {
    const write = this.db
      .withTenant(principal, (tx) =>
        insertUsageEvent(
          tx,
          event,
          event.targetModel ? builtinPrice(event.targetModel) : undefined,
        ),
      )
      .catch((err: unknown) =>
        this.logger.error(
          { err, tenantId: principal.tenantId, requestId: event.requestId },
          'recording gateway usage failed',
        ),
      )
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  /** Waits for every usage write started so far. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
