import { at, defined } from '../../platform/checked.js';
/** A budget to reserve in process: its key (as in Redis), its amount and this request's cost. */
export interface LocalHold {
  key: string;
  budgetTicks: number;
  costTicks: number;
  /** How long the budget outlives its seeding (one period plus a day, like the Redis hash). */
  ttlMs: number;
}

export type LocalReserveResult =
  | { ok: true; missing?: undefined }
  | { ok: false; budgetFailed: number; missing?: undefined }
  | { missing: number[] };

interface Entry {
  spent: number;
  reserved: number;
  /** Reservations in flight by id: their ticks and when they were made (for the reclaim). */
  reservations: Map<string, { ticks: number; at: number }>;
  expiresAt: number;
}

const SWEEP_EVERY_MS = 60_000;

/**
 * Budgets held in this process, for the embedded database without Redis: the same state and
 * rules as the Redis scripts ({spent, reserved} in ticks plus the reservations in flight), with
 * Postgres `budget_spend` as the durable record. Only one process can open an embedded database,
 * so this process sees every request of every budget and the state is exact. reserve(),
 * cancel() and settle() are synchronous on purpose: JS runs them to the end, so a check and its
 * hold can never interleave with another request's (the Lua script's guarantee, for free).
 */
export class LocalBudgets {
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<void>>();
  #nextSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Seeds the budgets at `missing` (indexes into holds) from their durable spent ticks. A budget
   * another request is already seeding is waited for, not loaded twice.
   */
  async seed(
    holds: readonly LocalHold[],
    missing: readonly number[],
    durableSpent: (indexes: number[]) => Promise<number[]>,
  ): Promise<void> {
    const waits: Promise<void>[] = [];
    const load: number[] = [];
    for (const i of missing) {
      const h = holds[i];
      if (!h || this.#entries.has(h.key)) continue;
      const inFlight = this.#loading.get(h.key);
      if (inFlight) waits.push(inFlight);
      else load.push(i);
    }
    if (load.length > 0) {
      const keys = load.map((i) => at(holds, i).key);
      // One chain that everyone awaits: a failed load rejects for each waiter (none unhandled)
      // and leaves the budget unseeded, so the next request tries again.
      const p = durableSpent(load)
        .then((spent) => {
          const now = this.now();
          load.forEach((i, n) => {
            const h = at(holds, i);
            if (this.#entries.has(h.key)) return;
            this.#entries.set(h.key, {
              spent: spent[n] ?? 0,
              reserved: 0,
              reservations: new Map(),
              expiresAt: now + h.ttlMs,
            });
          });
          this.#sweep(now);
        })
        .finally(() => {
          for (const k of keys) if (this.#loading.get(k) === p) this.#loading.delete(k);
        });
      for (const k of keys) this.#loading.set(k, p);
      waits.push(p);
    }
    await Promise.all(waits);
  }

  /**
   * Reserves `costTicks` in every budget or in none: `spent + reserved + cost <= budget`, after
   * reclaiming reservations older than `reclaimAgeMs` when (and only when) a budget would refuse
   * without them. Budgets not seeded yet are reported as missing.
   */
  reserve(holds: readonly LocalHold[], id: string, reclaimAgeMs: number): LocalReserveResult {
    const entries = holds.map((h) => this.#entries.get(h.key));
    const missing = entries.flatMap((e, i) => (e ? [] : [i]));
    if (missing.length > 0) return { missing };
    const now = this.now();
    for (let j = 0; j < holds.length; j++) {
      const e = defined(entries[j], 'budget entry');
      const h = at(holds, j);
      if (e.spent + e.reserved + h.costTicks <= h.budgetTicks) continue;
      this.#reclaim(e, now - reclaimAgeMs);
      if (e.spent + e.reserved + h.costTicks > h.budgetTicks) return { ok: false, budgetFailed: j };
    }
    holds.forEach((h, j) => {
      const e = defined(entries[j], 'budget entry');
      e.reservations.set(id, { ticks: h.costTicks, at: now });
      e.reserved += h.costTicks;
    });
    return { ok: true };
  }

  /** Gives back a reservation that was never used (another limit refused the request). */
  cancel(holds: readonly LocalHold[], id: string): void {
    for (const h of holds) {
      const e = this.#entries.get(h.key);
      const r = e?.reservations.get(id);
      if (!e || !r) continue;
      e.reservations.delete(id);
      e.reserved = Math.max(0, e.reserved - r.ticks);
    }
  }

  /**
   * Turns the reservation into `actualTicks` of spend. Removing the reservation is the claim: if
   * the reclaim took it first, its amount was already given back and only the spend is added, so
   * a late settle still charges exactly once. A budget no longer held (swept after its period)
   * is left alone: the batch writer records the spend in Postgres.
   */
  settle(holds: readonly { key: string; actualTicks: number }[], id: string): void {
    for (const h of holds) {
      const e = this.#entries.get(h.key);
      if (!e) continue;
      const r = e.reservations.get(id);
      if (r) {
        e.reservations.delete(id);
        e.reserved = Math.max(0, e.reserved - r.ticks);
      }
      e.spent += h.actualTicks;
    }
  }

  /** The held state of one budget (undefined until seeded), for tests and diagnostics. */
  peek(key: string): { spent: number; reserved: number; inFlight: number } | undefined {
    const e = this.#entries.get(key);
    return e && { spent: e.spent, reserved: e.reserved, inFlight: e.reservations.size };
  }

  #reclaim(e: Entry, olderThan: number): void {
    for (const [id, r] of e.reservations)
      if (r.at <= olderThan) {
        e.reservations.delete(id);
        e.reserved = Math.max(0, e.reserved - r.ticks);
      }
  }

  /** Budgets of past periods would otherwise stay in memory for the life of the process. */
  #sweep(now: number): void {
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + SWEEP_EVERY_MS;
    for (const [k, e] of this.#entries)
      if (e.expiresAt <= now && e.reservations.size === 0) this.#entries.delete(k);
  }
}

const shared = new WeakMap<object, { budgets: LocalBudgets; holders: number }>();

/**
 * The in-process budgets of one open embedded database. They belong to the database handle, not
 * to one app: every app built on it in this process (tests run several) shares them, as replicas
 * share Redis. When the last one releases them (after writing its spend) they are dropped, and
 * the next app seeds from Postgres, as a restarted process would.
 */
export function acquireLocalBudgets(database: object): {
  budgets: LocalBudgets;
  release: () => void;
} {
  let s = shared.get(database);
  if (!s) shared.set(database, (s = { budgets: new LocalBudgets(), holders: 0 }));
  s.holders++;
  const held = s;
  let released = false;
  return {
    budgets: held.budgets,
    release: () => {
      if (released) return;
      released = true;
      if (--held.holders === 0 && shared.get(database) === held) shared.delete(database);
    },
  };
}
