/** Where cached responses live: in-process (LRU) or Redis. Neither ever throws to its caller. */
export interface CacheStore {
  /** The stored value, or undefined on a miss, an expired entry or a store failure. */
  get(key: string): Promise<string | undefined>;
  /** Stores a value for ttlSeconds; failures are swallowed (the next request simply misses). */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
}

interface Entry {
  value: string;
  bytes: number;
  expiresAt: number;
}

/**
 * A least-recently-used cache bounded by entry count and by bytes, with a lifetime per entry,
 * for a single instance (no REDIS_URL). A Map keeps insertion order: re-inserting on a hit
 * moves an entry to the young end, so eviction takes from the front.
 */
export class MemoryCacheStore implements CacheStore {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(
    private readonly opts: { maxEntries: number; maxBytes: number },
    private readonly now: () => number = Date.now,
  ) {}

  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  get(key: string): Promise<string | undefined> {
    const e = this.#entries.get(key);
    if (!e) return Promise.resolve(undefined);
    this.#entries.delete(key);
    if (e.expiresAt <= this.now()) {
      this.#bytes -= e.bytes;
      return Promise.resolve(undefined);
    }
    this.#entries.set(key, e);
    return Promise.resolve(e.value);
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    // UTF-16 code units x2 bounds the heap a string takes, without encoding it.
    const bytes = value.length * 2 + key.length * 2;
    // One huge answer must not flush the whole cache.
    if (bytes > this.opts.maxBytes / 10) return Promise.resolve();
    const old = this.#entries.get(key);
    if (old) {
      this.#entries.delete(key);
      this.#bytes -= old.bytes;
    }
    this.#entries.set(key, { value, bytes, expiresAt: this.now() + ttlSeconds * 1000 });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.opts.maxEntries && this.#bytes <= this.opts.maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
    return Promise.resolve();
  }
}
