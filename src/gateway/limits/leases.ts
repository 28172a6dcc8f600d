import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { MetricCounter } from './limit-plan.js';
import type { BudgetHold, LeaseAsk, RedisLimits, Settle } from './redis-counters.js';
import { defined } from '../../platform/checked.js';

/**
 * At most this many requests' worth in one grant (and never more than an eighth of what is
 * left); more is asked for at half. Large enough that at high concurrency a block does not run
 * out before its refill arrives (then requests fall back to one round trip each).
 */
const GRANT_REQUESTS = 256;
/** No grant worth fewer requests than this: near a limit every request goes to Redis. */
const MIN_REQUESTS = 4;
/** Concurrency slots: at most and at least this many per grant. */
const GAUGE_MAX = 64;
const GAUGE_MIN = 2;
/** A lease unused this long is given back (so other instances can have it). */
const IDLE_MS = 2_000;
/** A budget lease is settled at least this often, whatever its use. */
const BUDGET_MAX_AGE_MS = 30_000;
/** A window lease stops this long before its window ends (so a give-back hits the right one). */
const WINDOW_MARGIN_MS = 250;
/** After a refused grant, the same key is not asked again for this long. */
const DENIED_BACKOFF_MS = 1_000;
/** A held gauge's safety TTL is renewed this often (it is 10 min in Redis). */
const GAUGE_TOUCH_MS = 60_000;
const SWEEP_MS = 500;

interface WindowLease {
  window: number;
  endsAt: number;
  remaining: number;
  /** Units taken from the grants so far, and what the counter held before the first grant. */
  taken: number;
  usedBefore: number;
  lastUse: number;
}

interface GaugeLease {
  held: number;
  inUse: number;
  lastUse: number;
  touchedAt: number;
}

interface BudgetLease {
  id: string;
  key: string;
  leased: number;
  /** Ticks reserved by requests still running, and the actual ticks of those that ended. */
  inFlight: number;
  spent: number;
  createdAt: number;
  lastUse: number;
}

/** A request admitted from leases: what its headers report, and how it ends. */
export interface LeasedAdmission {
  used: number[];
  resetMs: number;
  /** A lease it took from is below half a block: time to ask for more (refill). */
  low: boolean;
  end(actualTokens: number | undefined, actualTicks: number): void;
}

/**
 * Blocks of rate-limit counters and budgets that Redis granted to this instance (the LEASE
 * script), from which requests are admitted in process, with no Redis round trip, while their
 * limits are far away. A block is counted in Redis the moment it is granted, exactly as that
 * many admitted requests, so whatever every instance holds plus what Redis admitted one by one
 * never passes a limit: a budget never settles above itself, a window never admits more than
 * its rpm, concurrency never exceeds its slots. Grants shrink with what is left (an eighth of
 * it at most) and stop below a few requests' worth, so near a limit every request goes through
 * the ADMIT script one by one, as without leases. What a lease costs is that another instance
 * can be refused while this one holds unused units: they are given back after IDLE_MS unused,
 * window units at the end of their window in any case.
 */
export class LeaseBook {
  readonly #windows = new Map<string, WindowLease>();
  readonly #gauges = new Map<string, GaugeLease>();
  readonly #budgets = new Map<string, BudgetLease>();
  /** Budget leases taking no new requests, settled once their last request ends. */
  readonly #retiring = new Set<BudgetLease>();
  /** Budget leases whose settle failed: tried again at each sweep. */
  readonly #unsettled = new Set<BudgetLease>();
  readonly #asking = new Set<string>();
  readonly #deniedUntil = new Map<string, number>();
  readonly #pending = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      redis: RedisLimits;
      /** Runs a Redis call behind the limiter's timeout and breaker. */
      guard<T>(fn: () => Promise<T>): Promise<T>;
      /** Queues counter adjustments with the limiter's batched settles. */
      adjust(settle: Settle): void;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  #now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /**
   * Admits a request from leases when every counter and budget it needs is covered (taking
   * from all of them), else returns undefined and takes nothing.
   */
  tryAdmit(
    counters: readonly MetricCounter[],
    holds: readonly BudgetHold[],
  ): LeasedAdmission | undefined {
    const now = this.#now();
    const windows: (WindowLease | undefined)[] = [];
    const gauges: (GaugeLease | undefined)[] = [];
    for (const c of counters) {
      if (c.kind === 'window') {
        const l = this.#windows.get(c.key);
        if (!l || now >= l.endsAt || l.remaining < c.cost) return undefined;
        windows.push(l);
        gauges.push(undefined);
      } else {
        const g = this.#gauges.get(c.key);
        if (!g || g.held - g.inUse < c.cost) return undefined;
        windows.push(undefined);
        gauges.push(g);
      }
    }
    const budgets: BudgetLease[] = [];
    for (const h of holds) {
      const b = this.#budgets.get(h.key);
      if (!b || b.leased - b.inFlight - b.spent < h.costTicks) return undefined;
      budgets.push(b);
    }
    this.#start();
    let resetMs = Number.POSITIVE_INFINITY;
    let low = false;
    const used = counters.map((c, i) => {
      const w = windows[i];
      if (w) {
        w.remaining -= c.cost;
        w.lastUse = now;
        resetMs = Math.min(resetMs, w.endsAt + WINDOW_MARGIN_MS - now);
        if (w.remaining < (c.cost * GRANT_REQUESTS) / 2) low = true;
        return w.usedBefore + w.taken - w.remaining;
      }
      const g = defined(gauges[i], 'gauge lease');
      g.inUse += c.cost;
      g.lastUse = now;
      if (g.held - g.inUse < GAUGE_MIN) low = true;
      return g.inUse;
    });
    for (const [j, b] of budgets.entries()) {
      const cost = holds[j]?.costTicks ?? 0;
      b.inFlight += cost;
      b.lastUse = now;
      if (b.leased - b.inFlight - b.spent < (cost * GRANT_REQUESTS) / 2) low = true;
    }
    let ended = false;
    return {
      used,
      resetMs: Number.isFinite(resetMs) ? resetMs : 60_000,
      low,
      end: (actualTokens, actualTicks) => {
        if (ended) return;
        ended = true;
        counters.forEach((c, i) => {
          const g = gauges[i];
          if (g) g.inUse -= c.cost;
          else if (c.metric === 'tokens' && actualTokens !== undefined)
            this.#correctTokens(c, defined(windows[i], 'window lease'), actualTokens - c.cost);
        });
        budgets.forEach((b, j) => {
          const cost = holds[j]?.costTicks ?? 0;
          b.inFlight -= cost;
          b.spent += Math.min(Math.max(actualTicks, 0), cost);
          if (this.#retiring.has(b) && b.inFlight === 0) this.#settleBudget(b);
        });
      },
    };
  }

  /** Moves a TPM count from the estimate to the actual tokens. */
  #correctTokens(c: MetricCounter, lease: WindowLease, delta: number): void {
    if (delta === 0) return;
    const current = this.#windows.get(c.key) === lease && this.#now() < lease.endsAt;
    if (!current) {
      // The window is over (or the lease was given back): as for a request admitted by ADMIT.
      this.deps.adjust({
        adjust: [{ kind: 'window', key: c.key, delta }],
        budgets: [],
        reservationId: '',
      });
      return;
    }
    lease.remaining -= delta;
    if (lease.remaining < 0) {
      // Used more than the lease holds: the rest is counted in Redis, in the lease's window.
      this.deps.adjust({
        adjust: [{ kind: 'in-window', key: `${c.key}:${lease.window}`, delta: -lease.remaining }],
        budgets: [],
        reservationId: '',
      });
      lease.taken -= lease.remaining;
      lease.remaining = 0;
    }
  }

  /**
   * Asks Redis, in the background, for blocks of whatever this request needed that is missing
   * or running low. One ask per key at a time; a key refused a grant is left alone for a while.
   */
  refill(counters: readonly MetricCounter[], holds: readonly BudgetHold[]): void {
    const now = this.#now();
    const asks: LeaseAsk[] = [];
    const wanted = (key: string): boolean =>
      !this.#asking.has(key) && (this.#deniedUntil.get(key) ?? 0) <= now;
    for (const c of counters) {
      if (!wanted(c.key)) continue;
      if (c.kind === 'window') {
        const l = this.#windows.get(c.key);
        const low = !l || now >= l.endsAt || l.remaining < (c.cost * GRANT_REQUESTS) / 2;
        if (low)
          asks.push({
            kind: 'window',
            key: c.key,
            limit: c.limit,
            max: c.cost * GRANT_REQUESTS,
            min: c.cost * MIN_REQUESTS,
          });
      } else {
        const g = this.#gauges.get(c.key);
        if (!g || g.held - g.inUse < GAUGE_MIN)
          asks.push({ kind: 'gauge', key: c.key, limit: c.limit, max: GAUGE_MAX, min: GAUGE_MIN });
      }
    }
    for (const h of holds) {
      if (!wanted(h.key) || h.costTicks <= 0) continue;
      const b = this.#budgets.get(h.key);
      if (!b || b.leased - b.inFlight - b.spent < (h.costTicks * GRANT_REQUESTS) / 2)
        asks.push({
          kind: 'budget',
          key: h.key,
          limit: h.budgetTicks,
          max: h.costTicks * GRANT_REQUESTS,
          min: h.costTicks * MIN_REQUESTS,
          ttlMs: h.ttlMs,
          id: randomUUID(),
        });
    }
    if (asks.length === 0) return;
    for (const a of asks) this.#asking.add(a.key);
    this.#start();
    this.#track(
      this.deps
        .guard(() => this.deps.redis.lease(asks))
        .then((r) => this.#granted(asks, r.window, r.resetMs, r.grants))
        .catch((err: unknown) =>
          this.deps.logger.debug(
            { err: { message: (err as Error).message } },
            'limit lease failed',
          ),
        )
        .finally(() => {
          for (const a of asks) this.#asking.delete(a.key);
        }),
    );
  }

  #granted(
    asks: readonly LeaseAsk[],
    window: number,
    resetMs: number,
    grants: readonly { grant: number; used: number }[],
  ): void {
    const now = this.#now();
    asks.forEach((a, i) => {
      const { grant = 0, used = 0 } = grants[i] ?? {};
      if (grant <= 0) {
        this.#deniedUntil.set(a.key, now + DENIED_BACKOFF_MS);
        return;
      }
      this.#deniedUntil.delete(a.key);
      if (a.kind === 'window') {
        const l = this.#windows.get(a.key);
        if (l && l.window === window) {
          l.remaining += grant;
          l.taken += grant;
        } else
          this.#windows.set(a.key, {
            window,
            endsAt: now + resetMs - WINDOW_MARGIN_MS,
            remaining: grant,
            taken: grant,
            usedBefore: used,
            lastUse: now,
          });
      } else if (a.kind === 'gauge') {
        const g = this.#gauges.get(a.key);
        if (g) {
          g.held += grant;
          g.touchedAt = now;
        } else this.#gauges.set(a.key, { held: grant, inUse: 0, lastUse: now, touchedAt: now });
      } else {
        const previous = this.#budgets.get(a.key);
        if (previous) this.#retire(previous);
        this.#budgets.set(a.key, {
          id: a.id,
          key: a.key,
          leased: grant,
          inFlight: 0,
          spent: 0,
          createdAt: now,
          lastUse: now,
        });
      }
    });
  }

  #retire(b: BudgetLease): void {
    if (this.#budgets.get(b.key) === b) this.#budgets.delete(b.key);
    this.#retiring.add(b);
    if (b.inFlight === 0) this.#settleBudget(b);
  }

  /** Turns a budget lease into spend in Redis: its actual ticks spent, the rest given back. */
  #settleBudget(b: BudgetLease): void {
    this.#retiring.delete(b);
    this.#unsettled.delete(b);
    this.#track(
      this.deps
        .guard(() =>
          this.deps.redis.settle([
            {
              adjust: [],
              budgets: [{ key: b.key, reservedTicks: b.leased, actualTicks: b.spent }],
              reservationId: b.id,
            },
          ]),
        )
        .catch((err: unknown) => {
          // Kept and tried again: until it is settled Redis holds the whole lease as reserved
          // (the budget errs on the safe side), and the reclaim sweep would give it back
          // without its spend only after GATEWAY_BUDGET_RESERVATION_TTL_MS.
          this.#unsettled.add(b);
          this.deps.logger.warn(
            { err: { message: (err as Error).message } },
            'budget lease settle failed; will retry',
          );
        }),
    );
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #start(): void {
    this.#timer ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  /** Gives back what has been idle, retires old budget leases, renews held gauges' TTL. */
  sweep(all = false): void {
    const now = this.#now();
    const idle = (lastUse: number): boolean => all || now - lastUse >= IDLE_MS;
    const adjust: Settle['adjust'][number][] = [];
    for (const [key, l] of this.#windows) {
      if (now >= l.endsAt) this.#windows.delete(key);
      else if (idle(l.lastUse)) {
        // The lease's own window, named in full: the units go back where they were counted.
        if (l.remaining > 0)
          adjust.push({ kind: 'in-window', key: `${key}:${l.window}`, delta: -l.remaining });
        this.#windows.delete(key);
      }
    }
    for (const [key, g] of this.#gauges) {
      if (idle(g.lastUse) && g.held > g.inUse) {
        adjust.push({ kind: 'gauge', key, delta: -(g.held - g.inUse) });
        g.held = g.inUse;
      }
      if (g.held === 0 && g.inUse === 0) this.#gauges.delete(key);
      else if (now - g.touchedAt >= GAUGE_TOUCH_MS) {
        g.touchedAt = now;
        this.#track(
          this.deps.guard(() => this.deps.redis.touch(key, 600_000)).catch(() => undefined),
        );
      }
    }
    if (adjust.length) this.deps.adjust({ adjust, budgets: [], reservationId: '' });
    for (const b of [...this.#budgets.values()])
      if (idle(b.lastUse) || now - b.createdAt >= BUDGET_MAX_AGE_MS) this.#retire(b);
    for (const b of [...this.#unsettled]) this.#settleBudget(b);
    if (
      this.#windows.size +
        this.#gauges.size +
        this.#budgets.size +
        this.#retiring.size +
        this.#unsettled.size ===
      0
    ) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * Gives everything back and settles every budget lease (whose requests have all ended), then
   * waits for Redis: what Redis shows afterwards is what requests used (shutdown, tests).
   */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    this.sweep(true);
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
