import type { Principal } from '../platform/http/principal.js';

interface Entry {
  principal: Principal;
  expiresAt: number | null;
  cachedUntil: number;
}

/**
 * Verified API keys by keyed hash, bounded (oldest evicted first) and time-limited. Revocations
 * and role changes arrive as notifications (evict), and a lost notification connection clears
 * everything, so a revoked key never outlives its notification by more than a reconnect.
 */
export class KeyCache {
  #byHash = new Map<string, Entry>();
  #hashesByKey = new Map<string, Set<string>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(hash: string): Principal | undefined {
    const e = this.#byHash.get(hash);
    if (!e) return undefined;
    const now = this.now();
    if (e.cachedUntil <= now || (e.expiresAt !== null && e.expiresAt <= now)) {
      this.#delete(hash, e);
      return undefined;
    }
    return e.principal;
  }

  set(hash: string, principal: Principal, expiresAt: Date | null): void {
    if (this.ttlMs <= 0) return;
    if (this.#byHash.size >= this.maxEntries) {
      const oldest = this.#byHash.keys().next().value;
      if (oldest !== undefined) this.#delete(oldest, this.#byHash.get(oldest) as Entry);
    }
    this.#byHash.set(hash, {
      principal,
      expiresAt: expiresAt ? expiresAt.getTime() : null,
      cachedUntil: this.now() + this.ttlMs,
    });
    const keyId = principal.keyId ?? '';
    let set = this.#hashesByKey.get(keyId);
    if (!set) this.#hashesByKey.set(keyId, (set = new Set()));
    set.add(hash);
  }

  /** Drops every cached verification of one key. */
  evictKey(keyId: string): void {
    const hashes = this.#hashesByKey.get(keyId);
    if (!hashes) return;
    for (const h of hashes) this.#byHash.delete(h);
    this.#hashesByKey.delete(keyId);
  }

  clear(): void {
    this.#byHash.clear();
    this.#hashesByKey.clear();
  }

  get size(): number {
    return this.#byHash.size;
  }

  #delete(hash: string, e: Entry): void {
    this.#byHash.delete(hash);
    const keyId = e.principal.keyId ?? '';
    const set = this.#hashesByKey.get(keyId);
    set?.delete(hash);
    if (set && set.size === 0) this.#hashesByKey.delete(keyId);
  }
}
