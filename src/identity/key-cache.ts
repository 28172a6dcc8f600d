import type { Principal } from '../platform/http/principal.js';

interface Entry {
  principal: Principal;
  expiresAt: number | null;
  cachedUntil: number;
}

/**
 * Verified API keys by the presented key itself (so a hit costs one map lookup, no HMAC), in
 * this process's memory only, bounded (oldest evicted first) and time-limited. Revocations
 * and role changes arrive as notifications (evict), and a lost notification connection clears
 * everything, so a revoked key never outlives its notification by more than a reconnect.
 */
export class KeyCache {
  #byCredential = new Map<string, Entry>();
  #credentialsByKey = new Map<string, Set<string>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(credential: string): Principal | undefined {
    const e = this.#byCredential.get(credential);
    if (!e) return undefined;
    const now = this.now();
    if (e.cachedUntil <= now || (e.expiresAt !== null && e.expiresAt <= now)) {
      this.#delete(credential, e);
      return undefined;
    }
    return e.principal;
  }

  set(credential: string, principal: Principal, expiresAt: Date | null): void {
    if (this.ttlMs <= 0) return;
    if (this.#byCredential.size >= this.maxEntries) {
      const oldest = this.#byCredential.keys().next().value;
      if (oldest !== undefined) this.#delete(oldest, this.#byCredential.get(oldest) as Entry);
    }
    this.#byCredential.set(credential, {
      principal,
      expiresAt: expiresAt ? expiresAt.getTime() : null,
      cachedUntil: this.now() + this.ttlMs,
    });
    const keyId = principal.keyId ?? '';
    let set = this.#credentialsByKey.get(keyId);
    if (!set) this.#credentialsByKey.set(keyId, (set = new Set()));
    set.add(credential);
  }

  /** Drops every cached verification of one key. */
  evictKey(keyId: string): void {
    const credentials = this.#credentialsByKey.get(keyId);
    if (!credentials) return;
    for (const h of credentials) this.#byCredential.delete(h);
    this.#credentialsByKey.delete(keyId);
  }

  clear(): void {
    this.#byCredential.clear();
    this.#credentialsByKey.clear();
  }

  get size(): number {
    return this.#byCredential.size;
  }

  #delete(credential: string, e: Entry): void {
    this.#byCredential.delete(credential);
    const keyId = e.principal.keyId ?? '';
    const set = this.#credentialsByKey.get(keyId);
    set?.delete(credential);
    if (set && set.size === 0) this.#credentialsByKey.delete(keyId);
  }
}
