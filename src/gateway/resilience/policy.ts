import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  fullJitterGenerator,
  handleType,
  type CircuitBreakerPolicy,
  type IBackoff,
} from 'cockatiel';
import type { CancelSignal } from '../invoke/cancel.js';

export interface ResilienceSettings {
  /** Tries per target, the first call included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  breakerThreshold: number;
  breakerCooldownMs: number;
}

/** A retryable failure of one call to one target (429, 5xx, connect error, timeout). */
export class TargetFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind: 'status' | 'timeout' | 'connect',
    /** Seconds or an HTTP date, as the upstream sent it. */
    readonly retryAfter?: string,
  ) {
    super(message);
    this.name = 'TargetFailure';
  }
}

export { BrokenCircuitError };

export type CircuitStateName = 'closed' | 'open' | 'half_open';

/** How many breakers (one per tenant) of one provider/model are in each state. */
export interface CircuitCount {
  provider: string;
  model: string;
  state: CircuitStateName;
  count: number;
}

function stateName(s: CircuitState): CircuitStateName {
  if (s === CircuitState.HalfOpen) return 'half_open';
  // Isolated (manually held open) is not used by Rampart; it blocks calls like Open does.
  return s === CircuitState.Closed ? 'closed' : 'open';
}

/** Parses Retry-After (delta-seconds or HTTP date) into milliseconds from now. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The resilience policies of one process: a circuit breaker per target (tenant, provider,
 * model) and the retry backoff (exponential with full jitter). Breakers are in-process: each
 * replica learns a target's health from its own calls.
 */
export class TargetPolicies {
  readonly #breakers = new Map<
    string,
    { provider: string; model: string; policy: CircuitBreakerPolicy }
  >();
  readonly #backoff: ExponentialBackoff<number>;

  /**
   * maxBreakers bounds the map: a `*` route lets callers name any model, and a breaker per
   * made-up name would grow memory without end.
   */
  constructor(
    readonly settings: ResilienceSettings,
    private readonly maxBreakers = 10_000,
  ) {
    this.#backoff = new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: settings.baseDelayMs,
      maxDelay: settings.maxDelayMs,
    });
  }

  breaker(tenantId: string, provider: string, model: string): CircuitBreakerPolicy {
    const key = `${tenantId}\u0000${provider}\u0000${model}`;
    let b = this.#breakers.get(key);
    if (!b) {
      // Only upstream failures count; a request the upstream rejects (4xx) says nothing about it.
      const policy = circuitBreaker(handleType(TargetFailure), {
        halfOpenAfter: this.settings.breakerCooldownMs,
        breaker: new ConsecutiveBreaker(this.settings.breakerThreshold),
      });
      b = { provider, model, policy };
      if (this.#breakers.size >= this.maxBreakers) this.#evictOne();
      this.#breakers.set(key, b);
    }
    return b.policy;
  }

  /**
   * Drops the oldest closed breaker (forgetting a closed breaker only resets its count of
   * consecutive failures), looking at the oldest few; if they are all open, the oldest of all.
   */
  #evictOne(): void {
    let scanned = 0;
    for (const [key, b] of this.#breakers) {
      if (b.policy.state === CircuitState.Closed) {
        this.#breakers.delete(key);
        return;
      }
      if (++scanned >= 64) break;
    }
    const oldest = this.#breakers.keys().next();
    if (!oldest.done) this.#breakers.delete(oldest.value);
  }

  /** How many breakers this process holds. */
  get size(): number {
    return this.#breakers.size;
  }

  /**
   * Breakers by provider, model and state, summed over tenants (metrics never carry tenant
   * ids). An open breaker reads 'open' until a call after the cool-down probes it.
   */
  circuitCounts(): CircuitCount[] {
    const counts = new Map<string, CircuitCount>();
    for (const b of this.#breakers.values()) {
      const state = stateName(b.policy.state);
      const k = `${b.provider}\u0000${b.model}\u0000${state}`;
      const c = counts.get(k);
      if (c) c.count += 1;
      else counts.set(k, { provider: b.provider, model: b.model, state, count: 1 });
    }
    return [...counts.values()];
  }

  /** A fresh backoff sequence for one target's retries. */
  backoff(): IBackoff<unknown> {
    return this.#backoff.next();
  }
}

/** Waits ms, or rejects at once when the request is aborted (the client went away). */
export function sleep(ms: number, signal: CancelSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
