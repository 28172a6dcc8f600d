import type { FastifyRequest } from 'fastify';
import type { Database } from '../platform/db/database.js';
import { Forbidden } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import { ROLE_PERMISSIONS, isRole } from './permissions.js';
import {
  csrfTokenFor,
  hashSessionToken,
  looksLikeSessionToken,
  readCookie,
  sameSecret,
  type CookieNames,
} from './session-cookies.js';
import { findSessionByHash, touchSession, type VerifiedSessionRow } from './sessions-store.js';

interface Entry {
  principal: Principal;
  sessionId: string;
  cachedUntil: number;
}

/** Which session a session principal came from (GET /v1/sessions marks it `current`). */
const sessionOfPrincipal = new WeakMap<Principal, string>();

export function sessionIdOf(principal: Principal): string | undefined {
  return sessionOfPrincipal.get(principal);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type SessionVerdict =
  { principal: Principal } | { refused: 'unknown_session' | 'revoked_session' | 'expired_session' };

/**
 * Verifies session cookies into the same Principal an API key gives (kind 'user'). Verified
 * sessions are cached per process like keys; a revocation, a role or group change reaches every
 * instance by the notification channel API-key revocations use (keys-store.ts), and a lost
 * notification connection clears the cache.
 */
export class SessionVerifier {
  readonly #byToken = new Map<string, Entry>();
  readonly #tokensBySession = new Map<string, string>();
  readonly #tokensByUser = new Map<string, Set<string>>();

  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    readonly names: CookieNames,
    private readonly publicOrigin: string,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** The session token the request carries, when it carries one and no Authorization header. */
  tokenOf(request: FastifyRequest): string | undefined {
    if (request.headers.authorization !== undefined) return undefined;
    const token = readCookie(request, this.names.session);
    return token !== undefined && looksLikeSessionToken(token) ? token : undefined;
  }

  isCached(token: string): boolean {
    const e = this.#byToken.get(token);
    return e !== undefined && e.cachedUntil > Date.now();
  }

  async verify(token: string): Promise<SessionVerdict> {
    const cached = this.#byToken.get(token);
    if (cached && cached.cachedUntil > Date.now()) return { principal: cached.principal };
    if (cached) this.#delete(token);
    const hash = hashSessionToken(this.serverSecret, token);
    const row = await this.db.withOperator((tx) => findSessionByHash(tx, hash));
    if (!row) return { refused: 'unknown_session' };
    if (row.revoked_at) return { refused: 'revoked_session' };
    const now = Date.now();
    if (
      row.expires_at.getTime() <= now ||
      row.last_seen_at.getTime() + row.idle_timeout_s * 1000 <= now
    )
      return { refused: 'expired_session' };
    const principal = principalFromSession(row);
    sessionOfPrincipal.set(principal, row.session_id);
    await this.db.withTenant(principal, (tx) => touchSession(tx, row.session_id));
    this.#set(token, principal, row.session_id, row.user_id, row.expires_at.getTime());
    return { principal };
  }

  /**
   * Cookie-authenticated writes must come from Rampart's own origin and carry the session's
   * CSRF token in X-CSRF-Token (the readable rampart_csrf cookie holds it for the page).
   */
  assertSameSite(request: FastifyRequest, token: string): void {
    if (SAFE_METHODS.has(request.method)) return;
    const origin = request.headers.origin;
    if (origin !== this.publicOrigin)
      throw new Forbidden(
        'A request authenticated by a session cookie must come from Rampart’s own origin.',
        'csrf_rejected',
      );
    const sent = request.headers['x-csrf-token'];
    if (typeof sent !== 'string' || !sameSecret(sent, csrfTokenFor(this.serverSecret, token)))
      throw new Forbidden(
        'A request authenticated by a session cookie needs the X-CSRF-Token header.',
        'csrf_rejected',
      );
  }

  evictSession(sessionId: string): void {
    const token = this.#tokensBySession.get(sessionId);
    if (token) this.#delete(token);
  }

  evictUser(userId: string): void {
    for (const token of [...(this.#tokensByUser.get(userId) ?? [])]) this.#delete(token);
  }

  clear(): void {
    this.#byToken.clear();
    this.#tokensBySession.clear();
    this.#tokensByUser.clear();
  }

  get size(): number {
    return this.#byToken.size;
  }

  #set(
    token: string,
    principal: Principal,
    sessionId: string,
    userId: string,
    expiresAt: number,
  ): void {
    if (this.ttlMs <= 0) return;
    if (this.#byToken.size >= this.maxEntries) {
      const oldest = this.#byToken.keys().next().value;
      if (oldest !== undefined) this.#delete(oldest);
    }
    this.#byToken.set(token, {
      principal,
      sessionId,
      cachedUntil: Math.min(Date.now() + this.ttlMs, expiresAt),
    });
    this.#tokensBySession.set(sessionId, token);
    let set = this.#tokensByUser.get(userId);
    if (!set) this.#tokensByUser.set(userId, (set = new Set()));
    set.add(token);
  }

  #delete(token: string): void {
    const e = this.#byToken.get(token);
    this.#byToken.delete(token);
    if (!e) return;
    this.#tokensBySession.delete(e.sessionId);
    const userId = e.principal.userId ?? '';
    const set = this.#tokensByUser.get(userId);
    set?.delete(token);
    if (set && set.size === 0) this.#tokensByUser.delete(userId);
  }
}

/** A signed-in member's principal (session, Rampart access token): role and groups as stored now. */
export function principalFromSession(
  row: Pick<VerifiedSessionRow, 'tenant_id' | 'tenant_slug' | 'user_id' | 'role' | 'groups'>,
): Principal {
  const role = isRole(row.role) ? row.role : 'viewer';
  return {
    kind: 'user',
    tenantId: row.tenant_id,
    tenantSlug: row.tenant_slug,
    userId: row.user_id,
    keyId: null,
    role,
    permissions: ROLE_PERMISSIONS[role],
    groups: row.groups,
  };
}
