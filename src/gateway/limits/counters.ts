/**
 * Limit counters. RPM and TPM use FIXED one-minute windows aligned to the clock (the window is
 * floor(now / 60 s); Redis uses its own TIME so every replica agrees); concurrency is a plain
 * gauge. `acquire` checks every counter and increments all of them or none.
 */
export interface Counter {
  /** 'window' counters reset each minute; 'gauge' counters are released explicitly. */
  kind: 'window' | 'gauge';
  key: string;
  limit: number;
  cost: number;
}

export type AcquireResult =
  | { ok: true; used: number[]; resetMs: number }
  | { ok: false; failed: number; used: number[]; resetMs: number };

export interface CounterStore {
  acquire(counters: Counter[]): Promise<AcquireResult>;
  /** Adds delta to window counters (current window) and gauges; never below zero. */
  adjust(items: { kind: 'window' | 'gauge'; key: string; delta: number }[]): Promise<void>;
}

export const WINDOW_MS = 60_000;

/** The in-process store: same semantics as the Redis script, for one instance. */
export class LocalCounters implements CounterStore {
  readonly #windows = new Map<string, { window: number; value: number }>();
  readonly #gauges = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  #value(kind: Counter['kind'], key: string, window: number): number {
    if (kind === 'gauge') return this.#gauges.get(key) ?? 0;
    const w = this.#windows.get(key);
    return w && w.window === window ? w.value : 0;
  }

  #add(kind: Counter['kind'], key: string, window: number, delta: number): void {
    const next = Math.max(0, this.#value(kind, key, window) + delta);
    if (kind === 'gauge') {
      if (next === 0) this.#gauges.delete(key);
      else this.#gauges.set(key, next);
    } else this.#windows.set(key, { window, value: next });
  }

  acquire(counters: Counter[]): Promise<AcquireResult> {
    return Promise.resolve(this.acquireNow(counters));
  }

  adjust(items: { kind: 'window' | 'gauge'; key: string; delta: number }[]): Promise<void> {
    this.adjustNow(items);
    return Promise.resolve();
  }

  /** acquire() without the promise: the in-process path has no I/O to wait for. */
  acquireNow(counters: readonly Counter[]): AcquireResult {
    const now = this.now();
    const window = Math.floor(now / WINDOW_MS);
    const resetMs = WINDOW_MS - (now % WINDOW_MS);
    const used = counters.map((c) => this.#value(c.kind, c.key, window));
    const failed = counters.findIndex((c, i) => (used[i] ?? 0) + c.cost > c.limit);
    if (failed >= 0) return { ok: false, failed, used, resetMs };
    counters.forEach((c, i) => {
      this.#add(c.kind, c.key, window, c.cost);
      used[i] = (used[i] ?? 0) + c.cost;
    });
    if (this.#windows.size > 10_000) this.#sweep(window);
    return { ok: true, used, resetMs };
  }

  adjustNow(items: readonly { kind: 'window' | 'gauge'; key: string; delta: number }[]): void {
    const window = Math.floor(this.now() / WINDOW_MS);
    for (const it of items) this.#add(it.kind, it.key, window, it.delta);
  }

  #sweep(window: number): void {
    for (const [k, w] of this.#windows) if (w.window !== window) this.#windows.delete(k);
  }
}
