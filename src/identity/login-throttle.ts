import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Growing delays after failed sign-ins, per key (an account, a client address): the first
 * `free` failures cost nothing, each later one doubles the wait, up to `maxDelayMs`. A success
 * clears the account's key. In this process's memory, bounded; forgotten an hour after the last
 * failure. (The account's lock is also kept in the database, so it holds on every replica.)
 */
export class LoginThrottle {
  readonly #entries = new Map<string, { failures: number; blockedUntil: number; last: number }>();

  constructor(
    private readonly free = 5,
    private readonly baseDelayMs = 1000,
    private readonly maxDelayMs = 15 * 60_000,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until any of `keys` may try again (0: now). */
  retryAfterMs(keys: readonly string[]): number {
    const now = this.now();
    let wait = 0;
    for (const k of keys) {
      const e = this.#entries.get(k);
      if (!e) continue;
      if (now - e.last > 3_600_000) this.#entries.delete(k);
      else wait = Math.max(wait, e.blockedUntil - now);
    }
    return Math.max(0, wait);
  }

  /** Counts a failure; returns the failures so far and how long the key is now held. */
  fail(key: string): { failures: number; delayMs: number } {
    const now = this.now();
    const prior = this.#entries.get(key);
    const failures = (prior && now - prior.last <= 3_600_000 ? prior.failures : 0) + 1;
    const delayMs = delayAfter(failures, this.free, this.baseDelayMs, this.maxDelayMs);
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { failures, blockedUntil: now + delayMs, last: now });
    return { failures, delayMs };
  }

  succeed(key: string): void {
    this.#entries.delete(key);
  }
}

/** The wait after the n-th consecutive failure: 0 for the free ones, then 1×, 2×, 4×… the base. */
export function delayAfter(failures: number, free: number, baseMs: number, maxMs: number): number {
  if (failures <= free) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(30, failures - free - 1));
}

/** The Redis client the shared throttle uses. */
export type ThrottleRedis = Pick<Redis, 'multi' | 'set' | 'pttl' | 'del'>;

const FORGET_MS = 3_600_000;

/**
 * The same growing delays, shared by every instance through Redis when it is configured (a
 * failure counter and a "held until" key per throttled key; names hashed, so no address or
 * e-mail is stored in Redis). The in-process throttle always counts too, and answers alone when
 * Redis fails, so sign-in never depends on Redis.
 */
export class SharedLoginThrottle {
  readonly local: LoginThrottle;

  constructor(
    private readonly free: number,
    private readonly redis: ThrottleRedis | undefined,
    private readonly baseDelayMs = 1000,
    private readonly maxDelayMs = 15 * 60_000,
  ) {
    this.local = new LoginThrottle(free, baseDelayMs, maxDelayMs);
  }

  #key(kind: 'n' | 'held', key: string): string {
    return `rampart:login:${kind}:${createHash('sha256').update(key).digest('base64url')}`;
  }

  async retryAfterMs(keys: readonly string[]): Promise<number> {
    let wait = this.local.retryAfterMs(keys);
    if (!this.redis) return wait;
    try {
      for (const k of keys) wait = Math.max(wait, await this.redis.pttl(this.#key('held', k)));
    } catch {
      return wait;
    }
    return Math.max(0, wait);
  }

  async fail(key: string): Promise<void> {
    const mine = this.local.fail(key);
    if (!this.redis) return;
    try {
      const counter = this.#key('n', key);
      const replies = await this.redis.multi().incr(counter).pexpire(counter, FORGET_MS).exec();
      const shared = replies?.[0]?.[1];
      const failures = Math.max(mine.failures, typeof shared === 'number' ? shared : 0);
      const delayMs = delayAfter(failures, this.free, this.baseDelayMs, this.maxDelayMs);
      if (delayMs > 0) await this.redis.set(this.#key('held', key), '1', 'PX', delayMs);
    } catch {
      return;
    }
  }

  async succeed(key: string): Promise<void> {
    this.local.succeed(key);
    await this.redis?.del(this.#key('n', key), this.#key('held', key)).catch(() => 0);
  }
}
