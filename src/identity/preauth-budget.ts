import { AppError } from '../platform/http/errors.js';

/** 503 when the pre-authentication budget and its queue are both full. */
export class PreAuthBusy extends AppError {
  constructor() {
    super(
      503,
      'authentication_busy',
      'Too many credentials are being verified right now; retry shortly.',
      {},
      { 'retry-after': '1' },
    );
  }
}

/**
 * The database work done for callers not yet authenticated runs under this small budget: at
 * most `concurrency` at once, `queue` more waiting, the rest refused at once. However many
 * unverified credentials arrive, they hold at most `concurrency` connections of the pool, and
 * the connections authenticated requests need stay free.
 */
export class PreAuthBudget {
  #running = 0;
  #waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue = concurrency * 16,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrency) {
      if (this.#waiting.length >= this.queue) throw new PreAuthBusy();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else this.#running++;
    try {
      return await fn();
    } finally {
      // The slot passes straight to the next waiter, so #running never dips while some wait.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  get running(): number {
    return this.#running;
  }
}
