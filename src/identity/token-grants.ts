import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { appendAuditEvent } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { AppError } from '../platform/http/errors.js';
import type { RequestMeta } from '../platform/http/principal.js';
import { RAMPART_AUDIENCE, type AccessTokens } from './access-tokens.js';
import { sessionIdOf, type SessionVerifier } from './session-verifier.js';
import {
  findRefreshToken,
  insertRefreshToken,
  insertTokenFamily,
  markRefreshTokenRotated,
  revokeTokenFamily,
  type FoundRefreshTokenRow,
} from './tokens-store.js';

export interface TokenLifetimes {
  refreshTtlHours: number;
  refreshAbsoluteDays: number;
  reuseGraceSeconds: number;
}

/** What POST /auth/token answers (RFC 6749 §5.1 names). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  audience: string;
}

/** 400 invalid_grant / invalid_target (RFC 6749 §5.2, RFC 8707): the grant cannot be used. */
export class GrantRefused extends AppError {
  constructor(message: string, code: 'invalid_grant' | 'invalid_target' = 'invalid_grant') {
    super(400, code, message);
  }
}

const REFRESH_SHAPE = /^rmr_[A-Za-z0-9_-]{43}$/;

/**
 * POST /auth/token: a signed-in person's session, or a refresh token, exchanged for a
 * short-lived access token and a new refresh token. Each refresh token works once; presenting
 * one already exchanged (after a few seconds' grace for a retry) revokes its whole family.
 */
export class TokenGrants {
  readonly #audiences: ReadonlySet<string>;

  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    private readonly tokens: AccessTokens,
    private readonly sessions: SessionVerifier,
    private readonly lifetimes: TokenLifetimes,
    audiences: readonly string[] = [],
  ) {
    this.#audiences = new Set([RAMPART_AUDIENCE, ...audiences]);
  }

  #hash(token: string): Buffer {
    return createHmac('sha256', this.serverSecret).update(`refresh:${token}`).digest();
  }

  #audience(requested: string | undefined): string {
    const audience = requested ?? RAMPART_AUDIENCE;
    if (!this.#audiences.has(audience))
      throw new GrantRefused(
        `Tokens are not issued for the audience ${audience}.`,
        'invalid_target',
      );
    return audience;
  }

  /** Grant from the browser session the request carries (same origin and CSRF checks as any cookie write). */
  async fromSession(
    request: FastifyRequest,
    input: { audience?: string | undefined },
    meta: RequestMeta,
  ): Promise<TokenResponse> {
    const cookie = this.sessions.tokenOf(request);
    if (cookie === undefined)
      throw new GrantRefused('The session grant needs a signed-in session cookie.');
    const verdict = await this.sessions.verify(cookie);
    if ('refused' in verdict) throw new GrantRefused('The session has ended; sign in again.');
    this.sessions.assertSameSite(request, cookie);
    const principal = verdict.principal;
    const userId = principal.userId;
    if (!userId) throw new GrantRefused('The session has no user.');
    const audience = this.#audience(input.audience);
    const { familyId, refresh } = await this.db.withTenant(principal, (tx) =>
      this.openFamily(tx, {
        userId,
        sessionId: sessionIdOf(principal) ?? null,
        audience,
        clientId: null,
        meta,
        details: { grant: 'session', audience },
      }),
    );
    const access = await this.tokens.mint({
      tenantId: principal.tenantId,
      userId,
      familyId,
      audience,
    });
    return this.#response(access, refresh, audience);
  }

  /**
   * Opens a refresh-token family in the caller's tenant transaction and issues its first refresh
   * token (audited `token.issued`). The session grant and the OAuth authorization-code grant
   * (oauth-service.ts, with the client the family is bound to) both start here.
   */
  async openFamily(
    tx: TenantTx,
    f: {
      userId: string;
      sessionId: string | null;
      audience: string;
      clientId: string | null;
      meta: RequestMeta;
      details: Record<string, unknown>;
    },
  ): Promise<{ familyId: string; refresh: string }> {
    const refresh = `rmr_${randomBytes(32).toString('base64url')}`;
    const familyId = await insertTokenFamily(tx, {
      userId: f.userId,
      sessionId: f.sessionId,
      audience: f.audience,
      clientId: f.clientId,
      expiresAt: new Date(Date.now() + this.lifetimes.refreshAbsoluteDays * 86_400_000),
    });
    await insertRefreshToken(tx, {
      hash: this.#hash(refresh),
      familyId,
      expiresAt: this.#refreshExpiry(Infinity),
    });
    await appendAuditEvent(tx, {
      actor: { type: 'user', id: f.userId },
      action: 'token.issued',
      target: { type: 'token_family', id: familyId },
      outcome: 'success',
      ip: f.meta.ip,
      requestId: f.meta.requestId,
      details: f.details,
    });
    return { familyId, refresh };
  }

  /** The live family a refresh token belongs to, or undefined (unknown, spent family, expired, deactivated member). */
  async findFamily(refreshToken: string): Promise<FoundRefreshTokenRow | undefined> {
    if (!REFRESH_SHAPE.test(refreshToken)) return undefined;
    const found = await this.db.withOperator((tx) =>
      findRefreshToken(tx, this.#hash(refreshToken)),
    );
    const now = Date.now();
    if (
      !found ||
      !found.active ||
      found.family_revoked_at !== null ||
      found.family_expires_at.getTime() <= now
    )
      return undefined;
    return found;
  }

  /**
   * Exchanges a refresh token for a new access token and a new refresh token (rotation). A
   * family issued to an OAuth client is refreshed only by that client (`clientId`, already
   * authenticated at /oauth/token); a session grant's only at /auth/token (`clientId` null).
   */
  async refresh(
    refreshToken: string,
    meta: RequestMeta,
    clientId: string | null = null,
    scope?: string,
  ): Promise<TokenResponse> {
    if (!REFRESH_SHAPE.test(refreshToken)) throw new GrantRefused('Invalid refresh token.');
    const hash = this.#hash(refreshToken);
    const found = await this.db.withOperator((tx) => findRefreshToken(tx, hash));
    const now = Date.now();
    if (
      !found ||
      !found.active ||
      found.family_revoked_at !== null ||
      found.family_expires_at.getTime() <= now ||
      found.expires_at.getTime() <= now ||
      found.client_id !== clientId
    )
      throw new GrantRefused('Invalid, expired or revoked refresh token.');
    const ctx = { tenantId: found.tenant_id, userId: found.user_id, groups: [] };
    const actor = { type: 'user' as const, id: found.user_id };
    const target = { type: 'token_family', id: found.family_id };
    const next = `rmr_${randomBytes(32).toString('base64url')}`;
    const outcome = await this.db.withTenant(ctx, async (tx) => {
      const first = await markRefreshTokenRotated(tx, hash);
      const rotatedAt = found.rotated_at?.getTime() ?? now;
      const retry = !first && now - rotatedAt <= this.lifetimes.reuseGraceSeconds * 1000;
      if (!first && !retry) {
        await revokeTokenFamily(tx, found.family_id, 'refresh_token_reused');
        await appendAuditEvent(tx, {
          actor,
          action: 'refresh_token.reused',
          target,
          outcome: 'denied',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { familyRevoked: true },
        });
        return 'reused' as const;
      }
      await insertRefreshToken(tx, {
        hash: this.#hash(next),
        familyId: found.family_id,
        expiresAt: this.#refreshExpiry(found.family_expires_at.getTime()),
      });
      await appendAuditEvent(tx, {
        actor,
        action: 'token.refreshed',
        target,
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: retry ? { retryWithinGrace: true } : undefined,
      });
      return 'rotated' as const;
    });
    if (outcome === 'reused')
      throw new GrantRefused(
        'This refresh token was already used: every token of its grant is now revoked.',
      );
    const access = await this.tokens.mint({
      tenantId: found.tenant_id,
      userId: found.user_id,
      familyId: found.family_id,
      audience: found.audience,
      clientId: found.client_id ?? undefined,
      scope,
    });
    return this.#response(access, next, found.audience);
  }

  #refreshExpiry(familyExpiresAt: number): Date {
    return new Date(
      Math.min(Date.now() + this.lifetimes.refreshTtlHours * 3_600_000, familyExpiresAt),
    );
  }

  #response(
    access: { token: string; expiresIn: number },
    refresh: string,
    audience: string,
  ): TokenResponse {
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refresh,
      audience,
    };
  }
}
