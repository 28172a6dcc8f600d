import type { Database } from '../platform/db/database.js';
import { RAMPART_AUDIENCE, type AccessTokens } from './access-tokens.js';
import type { JwtVerdict } from './jwt-bearer.js';
import { principalFromSession } from './session-verifier.js';
import { verifyTokenFamily, type VerifiedFamilyRow } from './tokens-store.js';

interface Entry {
  row: VerifiedFamilyRow | undefined;
  cachedUntil: number;
}

/**
 * Authenticates API calls made with Rampart's own access tokens (audience `rampart`): the JWT
 * is verified, then its grant (refresh-token family) must be live and its member active. The
 * family's standing is cached per process like a key's, and dropped on every instance when the
 * family, the session it came from or the user changes (the key-events channel).
 */
export class AccessTokenVerifier {
  readonly #families = new Map<string, Entry>();

  constructor(
    private readonly db: Database,
    readonly tokens: AccessTokens,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  isOwn(token: string): boolean {
    return this.tokens.isOwn(token);
  }

  /** Verifies a token for `audience` (the API's by default; /mcp passes its resource URI). */
  async verify(token: string, audience: string = RAMPART_AUDIENCE): Promise<JwtVerdict> {
    const verdict = await this.tokens.verify(token, audience);
    if ('refused' in verdict) return verdict;
    const { claims } = verdict;
    const row = await this.#family(claims.familyId);
    if (
      !row ||
      row.revoked_at !== null ||
      row.expires_at.getTime() <= Date.now() ||
      row.tenant_id !== claims.tenantId ||
      row.user_id !== claims.userId ||
      row.audience !== audience
    )
      return { refused: 'revoked_token' };
    const principal = principalFromSession(row);
    return { principal };
  }

  async #family(id: string): Promise<VerifiedFamilyRow | undefined> {
    const cached = this.#families.get(id);
    if (cached && cached.cachedUntil > Date.now()) return cached.row;
    const row = await this.db.withOperator((tx) => verifyTokenFamily(tx, id));
    if (this.ttlMs > 0) {
      if (this.#families.size >= this.maxEntries) this.#families.clear();
      this.#families.set(id, { row, cachedUntil: Date.now() + this.ttlMs });
    }
    return row;
  }

  evictFamily(id: string): void {
    this.#families.delete(id);
  }

  /** Role, groups, deactivation or revocation of a user: their families are read again. */
  evictUser(userId: string): void {
    for (const [id, e] of this.#families) if (e.row?.user_id === userId) this.#families.delete(id);
  }

  evictSession(sessionId: string): void {
    for (const [id, e] of this.#families)
      if (e.row?.session_id === sessionId) this.#families.delete(id);
  }

  clear(): void {
    this.#families.clear();
  }
}
