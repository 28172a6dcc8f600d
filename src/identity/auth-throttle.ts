import { isIPv6 } from 'node:net';
import type { Redis } from 'ioredis';
import type { ThrottleScope } from './auth-metrics.js';

const WINDOW_MS = 60_000;
/** Sources tracked per scope per process; beyond it the oldest are forgotten (bounded memory). */
const MAX_SOURCES = 100_000;

/**
 * The address a failure counts against. IPv6 counts per /64, the block one subscriber usually
 * holds (one host can pick any address in it); an IPv4-mapped IPv6 address counts as the IPv4.
 */
export function failureSource(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)?.[1];
  if (mapped) return mapped;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const full = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${full
    .slice(0, 4)
    .map((h) => h.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

interface Count {
  window: number;
  count: number;
}

export interface ThrottleLimits {
  /** Failures per minute per client address; 0 disables. */
  perAddress: number;
  /** Failures per minute per API-key prefix; 0 disables. */
  perKeyPrefix: number;
}

/**
 * Counts authentication failures per client address and per key prefix in fixed one-minute
 * windows and answers, from memory, whether a source is over its limit. With Redis each failure
 * is also counted there and the shared count comes back into memory, so a source over the limit
 * on any instance is throttled by every instance after at most one more failure there; the
 * check itself never waits on Redis or the database.
 */
export class AuthThrottle {
  readonly #counts: Record<ThrottleScope, Map<string, Count>> = {
    address: new Map(),
    key_prefix: new Map(),
  };

  constructor(
    private readonly limits: ThrottleLimits,
    private readonly redis: Redis | undefined,
    private readonly now: () => number = Date.now,
    /** Redis key namespace: another counter built on this one (OAuth registrations) keeps its own. */
    private readonly namespace = 'authfail',
  ) {}

  /** Seconds until the source may try again, or undefined when it is not throttled. */
  retryAfter(address: string, keyPrefix: string | undefined): ThrottleVerdict | undefined {
    const window = Math.floor(this.now() / WINDOW_MS);
    const over = (scope: ThrottleScope, source: string | undefined): boolean => {
      const limit = this.#limit(scope);
      if (!limit || source === undefined) return false;
      const c = this.#counts[scope].get(source);
      return c !== undefined && c.window === window && c.count >= limit;
    };
    const scope: ThrottleScope | undefined = over('address', failureSource(address))
      ? 'address'
      : over('key_prefix', keyPrefix)
        ? 'key_prefix'
        : undefined;
    if (!scope) return undefined;
    return { scope, seconds: Math.ceil(((window + 1) * WINDOW_MS - this.now()) / 1000) };
  }

  /** Counts one failure against the address and (when the token had one) the key prefix. */
  async recordFailure(address: string, keyPrefix: string | undefined): Promise<void> {
    const window = Math.floor(this.now() / WINDOW_MS);
    const sources: [ThrottleScope, string][] = [['address', failureSource(address)]];
    if (keyPrefix !== undefined) sources.push(['key_prefix', keyPrefix]);
    const counted = sources.filter(([scope]) => this.#limit(scope) > 0);
    for (const [scope, source] of counted) this.#bump(scope, source, window, 1);
    if (!this.redis || counted.length === 0) return;
    // A Redis failure leaves the in-process count in charge; authentication does not depend on it.
    try {
      const multi = this.redis.multi();
      for (const [scope, source] of counted) {
        const key = `rampart:${this.namespace}:${scope}:${window}:${source}`;
        multi.incr(key).pexpire(key, 2 * WINDOW_MS);
      }
      const replies = (await multi.exec()) ?? [];
      counted.forEach(([scope, source], i) => {
        const shared = replies[i * 2]?.[1];
        if (typeof shared === 'number') this.#bump(scope, source, window, 0, shared);
      });
    } catch {
      return;
    }
  }

  /** Sources over their limit in the current window, per scope (for the metrics gauge). */
  throttledSources(): Record<ThrottleScope, number> {
    const window = Math.floor(this.now() / WINDOW_MS);
    const count = (scope: ThrottleScope): number => {
      const limit = this.#limit(scope);
      let n = 0;
      if (limit)
        for (const c of this.#counts[scope].values())
          if (c.window === window && c.count >= limit) n++;
      return n;
    };
    return { address: count('address'), key_prefix: count('key_prefix') };
  }

  #limit(scope: ThrottleScope): number {
    return scope === 'address' ? this.limits.perAddress : this.limits.perKeyPrefix;
  }

  #bump(scope: ThrottleScope, source: string, window: number, add: number, atLeast = 0): void {
    const counts = this.#counts[scope];
    let c = counts.get(source);
    if (!c || c.window !== window) {
      if (c) counts.delete(source);
      if (counts.size >= MAX_SOURCES) this.#forgetOldest(counts, window);
      c = { window, count: 0 };
      counts.set(source, c);
    }
    c.count = Math.max(c.count + add, atLeast);
  }

  /** Drops past windows first; if every source is current, the longest-tracked one goes. */
  #forgetOldest(counts: Map<string, Count>, window: number): void {
    for (const [source, c] of counts) if (c.window !== window) counts.delete(source);
    if (counts.size < MAX_SOURCES) return;
    const oldest = counts.keys().next().value;
    if (oldest !== undefined) counts.delete(oldest);
  }
}

export interface ThrottleVerdict {
  scope: ThrottleScope;
  seconds: number;
}
