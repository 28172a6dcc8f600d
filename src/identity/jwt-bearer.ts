import * as jose from 'jose';
import type { Database } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import {
  guardedFetch,
  reportingFailures,
  type GuardedFetch,
} from '../platform/net/guarded-fetch.js';
import { jwtMember, trustedIssuer, type TrustedIssuerRow } from './jwt-store.js';
import { ROLE_PERMISSIONS, isRole } from './permissions.js';

/** Asymmetric algorithms only: with no shared secret, HS/RS confusion has nothing to confuse. */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Clock skew tolerated on exp / nbf / iat. */
const SKEW_S = 30;

export type JwtVerdict = { principal: Principal } | { refused: string };

const REASONS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'expired_token',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'invalid_claims',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm_not_allowed',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown_kid',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'unknown_kid',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
  ERR_JOSE_NOT_SUPPORTED: 'algorithm_not_allowed',
};

/**
 * Verifies a tenant's identity-provider access tokens (external JWT bearer) with jose. The
 * tenant is the one whose trusted (issuer, audience) the token verifies against — the `iss`
 * and `aud` read before verification only choose which trust entry to verify with. The person
 * is the member linked to (issuer, subject) at sign-in; their role and groups are Rampart's.
 */
export class JwtBearer {
  readonly #jwks = new Map<string, ReturnType<typeof jose.createRemoteJWKSet>>();
  readonly #fetch: GuardedFetch;

  constructor(
    private readonly db: Database,
    allowPrivate: boolean,
    /** Rampart's own access tokens (issuer PUBLIC_URL), verified with its own keys. */
    private readonly own?: {
      isOwn(token: string): boolean;
      verify(token: string): Promise<JwtVerdict>;
    },
    /** Called for each failure to fetch a trusted issuer's JWKS. */
    onFailure: () => void = () => undefined,
  ) {
    this.#fetch = reportingFailures(guardedFetch(allowPrivate), onFailure);
  }

  looksLikeJwt(token: string): boolean {
    return JWT_SHAPE.test(token);
  }

  #keys(uri: string): ReturnType<typeof jose.createRemoteJWKSet> {
    let keys = this.#jwks.get(uri);
    if (!keys) {
      const f = this.#fetch;
      keys = jose.createRemoteJWKSet(new URL(uri), {
        cooldownDuration: 30_000,
        cacheMaxAge: 600_000,
        timeoutDuration: 5000,
        [jose.customFetch]: (url, o) =>
          f(url, {
            method: o.method,
            headers: Object.fromEntries(o.headers),
            redirect: o.redirect,
            signal: o.signal,
          }),
      });
      if (this.#jwks.size >= 1000) this.#jwks.clear();
      this.#jwks.set(uri, keys);
    }
    return keys;
  }

  async verify(token: string): Promise<JwtVerdict> {
    if (this.own?.isOwn(token)) return this.own.verify(token);
    let claims: jose.JWTPayload;
    try {
      claims = jose.decodeJwt(token);
    } catch {
      return { refused: 'malformed_token' };
    }
    if (typeof claims.iss !== 'string') return { refused: 'unknown_issuer' };
    const issuer = claims.iss;
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    const rows = await this.db.withOperator((op) => trustedIssuer(op, issuer));
    const trust: TrustedIssuerRow | undefined = rows.find((r) => audiences.includes(r.audience));
    if (!trust) return { refused: rows.length > 0 ? 'wrong_audience' : 'unknown_issuer' };
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, this.#keys(trust.jwks_uri), {
        issuer: trust.issuer,
        audience: trust.audience,
        algorithms: trust.algorithms,
        clockTolerance: SKEW_S,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      const code = err instanceof jose.errors.JOSEError ? err.code : '';
      return { refused: REASONS[code] ?? 'invalid_token' };
    }
    const subject = payload[trust.subject_claim];
    if (typeof subject !== 'string' || subject === '') return { refused: 'invalid_claims' };
    const member = await this.db.withOperator((op) =>
      jwtMember(op, trust.tenant_id, trust.issuer, subject),
    );
    if (!member) return { refused: 'unknown_subject' };
    const role = isRole(member.role) ? member.role : 'viewer';
    return {
      principal: {
        kind: 'user',
        tenantId: trust.tenant_id,
        tenantSlug: trust.tenant_slug,
        userId: member.user_id,
        keyId: null,
        role,
        permissions: ROLE_PERMISSIONS[role],
        groups: member.groups,
      },
    };
  }
}
