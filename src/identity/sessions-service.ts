import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditSuccess } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { InvalidInput, NotFound } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { assertMayGrant, auditingRefusals } from './role-guard.js';
import {
  appendCookies,
  csrfTokenFor,
  hashSessionToken,
  newSessionToken,
  readCookie,
  setCookie,
  type CookieNames,
} from './session-cookies.js';
import { sessionIdOf, type SessionVerifier } from './session-verifier.js';
import {
  insertSession,
  listUserSessions,
  revokeSession,
  revokeUserSessions,
  type SessionRow,
} from './sessions-store.js';
import { revokeUserTokenFamilies } from './tokens-store.js';
import { getMember } from './users-store.js';

export interface SessionLifetimes {
  idleMinutes: number;
  absoluteHours: number;
}

export interface SessionView {
  id: string;
  method: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

function toView(r: SessionRow, current: string | undefined): SessionView {
  return {
    id: r.id,
    method: r.method,
    createdAt: r.created_at.toISOString(),
    lastSeenAt: r.last_seen_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    ip: r.ip,
    userAgent: r.user_agent,
    current: r.id === current,
  };
}

/** Browser sessions: started at sign-in, listed and ended by their user, ended by admins. */
export class SessionService {
  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    private readonly lifetimes: SessionLifetimes,
    readonly verifier: SessionVerifier,
  ) {}

  get names(): CookieNames {
    return this.verifier.names;
  }

  /** Starts a session inside the sign-in transaction; sets its cookies on the reply. */
  async start(
    tx: TenantTx,
    userId: string,
    method: 'oidc' | 'password',
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<SessionRow> {
    const token = newSessionToken();
    const absoluteS = this.lifetimes.absoluteHours * 3600;
    const row = await insertSession(tx, {
      userId,
      tokenHash: hashSessionToken(this.serverSecret, token),
      method,
      idleTimeoutS: this.lifetimes.idleMinutes * 60,
      expiresAt: new Date(Date.now() + absoluteS * 1000),
      ip: request.ip,
      userAgent: request.headers['user-agent'] ?? null,
    });
    appendCookies(reply, [
      setCookie(this.names, this.names.session, token, { maxAgeS: absoluteS, httpOnly: true }),
      // Readable by the page, which echoes it in X-CSRF-Token on writes.
      setCookie(this.names, this.names.csrf, csrfTokenFor(this.serverSecret, token), {
        maxAgeS: absoluteS,
        httpOnly: false,
      }),
    ]);
    return row;
  }

  /** Clears the session cookies on the reply. */
  clearCookies(reply: FastifyReply): void {
    appendCookies(reply, [
      setCookie(this.names, this.names.session, '', { maxAgeS: 0, httpOnly: true }),
      setCookie(this.names, this.names.csrf, '', { maxAgeS: 0, httpOnly: false }),
    ]);
  }

  /** The caller's own live sessions (a key not bound to a user has none). */
  async listOwn(principal: Principal): Promise<SessionView[]> {
    const userId = principal.userId;
    if (!userId) return [];
    const rows = await this.db.withTenant(principal, (tx) => listUserSessions(tx, userId));
    return rows.map((r) => toView(r, sessionIdOf(principal)));
  }

  /** Ends one of the caller's own sessions, on every instance. */
  async revokeOwn(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    const userId = principal.userId;
    if (!userId) throw new NotFound('Session');
    await this.db.withTenant(principal, async (tx) => {
      if (!(await revokeSession(tx, id, userId))) throw new NotFound('Session');
      await revokeUserTokenFamilies(tx, userId, 'session_revoked', id);
      await auditSuccess(tx, principal, meta, 'session.revoked', { type: 'session', id });
    });
    this.verifier.evictSession(id);
  }

  /** An admin ends every session of a member (no higher in role than the admin). */
  async revokeUser(principal: Principal, userId: string, meta: RequestMeta): Promise<number> {
    return auditingRefusals(this.db, principal, meta, { type: 'user', id: userId }, async () => {
      const n = await this.db.withTenant(principal, async (tx) => {
        const member = await getMember(tx, userId);
        if (!member) throw new NotFound('User');
        assertMayGrant(principal, member.role, 'end the sessions of a user with');
        const revoked = await revokeUserSessions(tx, userId);
        await revokeUserTokenFamilies(tx, userId, 'sessions_revoked');
        await auditSuccess(
          tx,
          principal,
          meta,
          'user.sessions_revoked',
          { type: 'user', id: userId },
          { sessions: revoked },
        );
        return revoked;
      });
      this.verifier.evictUser(userId);
      return n;
    });
  }

  /**
   * Signs out: ends the session the cookie names (after the same origin and CSRF checks as any
   * cookie-authenticated write) and clears the cookies. Returns the principal it ended, if any.
   */
  async signOut(
    request: FastifyRequest,
    reply: FastifyReply,
    meta: RequestMeta,
  ): Promise<Principal | undefined> {
    const token = this.verifier.tokenOf(request);
    this.clearCookies(reply);
    if (token === undefined) {
      if (readCookie(request, this.names.session) !== undefined)
        throw new InvalidInput('The session cookie is malformed.');
      return undefined;
    }
    const verdict = await this.verifier.verify(token);
    if ('refused' in verdict) return undefined;
    this.verifier.assertSameSite(request, token);
    const principal = verdict.principal;
    const id = sessionIdOf(principal);
    if (!id) return undefined;
    await this.db.withTenant(principal, async (tx) => {
      await revokeSession(tx, id, undefined);
      if (principal.userId) await revokeUserTokenFamilies(tx, principal.userId, 'signed_out', id);
      await auditSuccess(tx, principal, meta, 'session.ended', { type: 'session', id });
    });
    this.verifier.evictSession(id);
    return principal;
  }
}
