import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import type { SigningKeys } from './signing-keys.js';

/** The audience of access tokens that authenticate Rampart's own API. */
export const RAMPART_AUDIENCE = 'rampart';
/** RFC 9068's media type for JWT access tokens, in the `typ` header. */
const TOKEN_TYPE = 'at+jwt';
/** Clock skew tolerated on exp / iat. */
const SKEW_S = 30;

/** What an access token says: who, in which tenant, from which grant, for which audience. */
export interface AccessTokenClaims {
  tenantId: string;
  userId: string;
  /** The refresh-token family (grant) it was issued in: revoking the family stops the token. */
  familyId: string;
  audience: string;
  scope?: string | undefined;
  /** The OAuth client it was issued to (RFC 9068 `client_id`), for the authorization-code grant. */
  clientId?: string | undefined;
}

export type AccessTokenVerdict =
  | { claims: AccessTokenClaims & { expiresAt: Date } }
  | { refused: 'malformed_token' | 'unknown_kid' | 'wrong_audience' | 'expired_token' | string };

const REASONS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'expired_token',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'invalid_claims',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm_not_allowed',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
  ERR_JOSE_NOT_SUPPORTED: 'algorithm_not_allowed',
};

/**
 * Mints and verifies Rampart's access tokens: JWTs signed ES256 with a `kid` from SigningKeys,
 * issuer PUBLIC_URL, and an audience. The audience is a parameter on both sides: `rampart` for
 * the API, another value (an MCP server's resource URI, RFC 8707) for a token meant elsewhere,
 * and verification accepts only the audience its caller names.
 */
export class AccessTokens {
  constructor(
    private readonly keys: SigningKeys,
    readonly issuer: string,
    readonly ttlS: number,
  ) {}

  /** Signs an access token for `claims.audience`, valid `ttlS` seconds (default ACCESS_TOKEN_TTL_SECONDS). */
  async mint(
    claims: AccessTokenClaims,
    ttlS = this.ttlS,
  ): Promise<{ token: string; expiresIn: number }> {
    const { kid, key } = await this.keys.current();
    const token = await new jose.SignJWT({
      tid: claims.tenantId,
      sid: claims.familyId,
      ...(claims.scope ? { scope: claims.scope } : {}),
      ...(claims.clientId ? { client_id: claims.clientId } : {}),
    })
      .setProtectedHeader({ alg: 'ES256', kid, typ: TOKEN_TYPE })
      .setIssuer(this.issuer)
      .setAudience(claims.audience)
      .setSubject(claims.userId)
      .setIssuedAt()
      .setExpirationTime(`${ttlS}s`)
      .setJti(randomUUID())
      .sign(key);
    return { token, expiresIn: ttlS };
  }

  /** True when the token names this Rampart as its issuer (read before any verification). */
  isOwn(token: string): boolean {
    try {
      return jose.decodeJwt(token).iss === this.issuer;
    } catch {
      return false;
    }
  }

  /**
   * Verifies signature (a published key, ES256 only), issuer, `audience`, type and expiry. It
   * does not say whether the grant is still live: callers check the family (token-verifier.ts).
   */
  async verify(token: string, audience: string): Promise<AccessTokenVerdict> {
    let kid: string | undefined;
    try {
      kid = jose.decodeProtectedHeader(token).kid;
    } catch {
      return { refused: 'malformed_token' };
    }
    const key = kid === undefined ? undefined : await this.keys.publicKey(kid);
    if (!key) return { refused: 'unknown_kid' };
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, key, {
        issuer: this.issuer,
        algorithms: ['ES256'],
        typ: TOKEN_TYPE,
        clockTolerance: SKEW_S,
        requiredClaims: ['exp', 'sub', 'aud'],
      }));
    } catch (err) {
      const code = err instanceof jose.errors.JOSEError ? err.code : '';
      return { refused: REASONS[code] ?? 'invalid_token' };
    }
    const audiences = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
    if (!audiences.includes(audience)) return { refused: 'wrong_audience' };
    const { tid, sid, sub, exp, scope, client_id: clientId } = payload;
    if (typeof tid !== 'string' || typeof sid !== 'string' || typeof sub !== 'string' || !exp)
      return { refused: 'invalid_claims' };
    return {
      claims: {
        tenantId: tid,
        userId: sub,
        familyId: sid,
        audience,
        scope: typeof scope === 'string' ? scope : undefined,
        clientId: typeof clientId === 'string' ? clientId : undefined,
        expiresAt: new Date(exp * 1000),
      },
    };
  }
}
