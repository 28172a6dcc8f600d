/**
 * The display prefixes of live API keys, held in memory so a key whose prefix was never issued
 * is refused without a database lookup. Loaded at start, extended by the `issued:` notification
 * every instance receives when any key is created (and at once by the instance creating it).
 * Revocations are not removed here: a revoked key's prefix only costs one lookup, whose answer
 * the negative cache then keeps. Until a load has succeeded (at start, and again after the notification
 * connection reconnected, when messages may have been missed) the set answers "maybe" for every
 * prefix, so a missed notification can delay a refusal but never refuse a real key.
 */
export class KeyPrefixSet {
  #prefixes = new Set<string>();
  /** Prefixes announced while a load is running (the load's snapshot may predate them). */
  #announcedDuringLoad: Set<string> | undefined;
  #ready = false;
  #generation = 0;

  /**
   * Replaces the set with `fetch()`'s answer plus whatever was announced meanwhile, and starts
   * answering from it, unless an invalidation came in during the fetch.
   */
  async reload(fetch: () => Promise<Iterable<string>>): Promise<void> {
    const generation = ++this.#generation;
    const announced = new Set<string>();
    this.#announcedDuringLoad = announced;
    try {
      const fresh = new Set(await fetch());
      if (generation !== this.#generation) return;
      for (const p of announced) fresh.add(p);
      this.#prefixes = fresh;
      this.#ready = true;
    } finally {
      if (this.#announcedDuringLoad === announced) this.#announcedDuringLoad = undefined;
    }
  }

  /** Called when notifications may have been missed: answer "maybe" until the next reload. */
  invalidate(): void {
    this.#generation++;
    this.#ready = false;
  }

  add(prefix: string): void {
    this.#prefixes.add(prefix);
    this.#announcedDuringLoad?.add(prefix);
  }

  /** False only when the prefix is certainly not one of a live key. */
  mayExist(prefix: string): boolean {
    return !this.#ready || this.#prefixes.has(prefix);
  }

  get ready(): boolean {
    return this.#ready;
  }

  get size(): number {
    return this.#prefixes.size;
  }
}

/**
 * Presented tokens remembered for a while, with a value, bounded (oldest first out). As the
 * negative cache it holds what the database refused (unknown, revoked, expired), so the same
 * wrong secret sent again is refused from memory; nothing there can make a valid key fail, as
 * keys are random and a refused token never becomes one.
 */
export class RecentTokens<V> {
  #refused = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(token: string): V | undefined {
    const e = this.#refused.get(token);
    if (!e) return undefined;
    if (e.until <= this.now()) {
      this.#refused.delete(token);
      return undefined;
    }
    return e.value;
  }

  set(token: string, value: V): void {
    if (this.ttlMs <= 0) return;
    this.#refused.delete(token);
    if (this.#refused.size >= this.maxEntries) {
      const oldest = this.#refused.keys().next().value;
      if (oldest !== undefined) this.#refused.delete(oldest);
    }
    this.#refused.set(token, { value, until: this.now() + this.ttlMs });
  }

  get size(): number {
    return this.#refused.size;
  }
}
