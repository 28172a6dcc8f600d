/** Raised instead of calling Redis while the breaker is open. */
export class RedisCircuitOpen extends Error {
  constructor() {
    super('redis circuit open');
  }
}

class RedisTimeout extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`);
  }
}

/**
 * A timeout and a consecutive-failure circuit breaker around one Redis call. Hand-rolled rather
 * than cockatiel's policies because this runs twice per gateway request: cockatiel's aggressive
 * timeout allocates an AbortController and aborts it (a DOMException) on every call, which showed
 * in CPU profiles of the hot path. Here a call costs one timer. After `threshold` consecutive
 * failures calls fail fast for `openMs`; then calls go through again, and the first failure
 * reopens the breaker.
 */
export class RedisGuard {
  #failures = 0;
  #openUntil = 0;

  constructor(
    private readonly opts: {
      timeoutMs: number;
      threshold: number;
      openMs: number;
      now?: () => number;
    },
  ) {}

  async execute<T>(fn: () => Promise<T>): Promise<T> {
    const now = (this.opts.now ?? Date.now)();
    if (this.#failures >= this.opts.threshold && now < this.#openUntil)
      throw new RedisCircuitOpen();
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          // setImmediate: when the event loop was blocked past the deadline, the timer fires
          // before the socket is read (timers run before poll). Waiting one turn lets a reply
          // that already arrived win, so a busy process does not take Redis for down.
          timer = setTimeout(
            () => setImmediate(() => reject(new RedisTimeout(this.opts.timeoutMs))),
            this.opts.timeoutMs,
          );
        }),
      ]);
      this.#failures = 0;
      return value;
    } catch (err) {
      this.#failures += 1;
      if (this.#failures >= this.opts.threshold)
        this.#openUntil = (this.opts.now ?? Date.now)() + this.opts.openMs;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
