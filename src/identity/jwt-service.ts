import { z } from 'zod';
import { auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { Conflict, InvalidInput, NotFound } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { messageOf } from '../platform/checked.js';
import { guardedFetch, type GuardedFetch } from '../platform/net/guarded-fetch.js';
import { deleteJwtTrust, getJwtTrust, upsertJwtTrust, type JwtTrustRow } from './jwt-store.js';
import type { OidcClients } from './oidc-client.js';

export interface JwtTrustInput {
  issuer: string;
  audience: string;
  jwksUri?: string | undefined;
  algorithms: string[];
  subjectClaim: string;
}

export interface JwtTrustView {
  issuer: string;
  audience: string;
  jwksUri: string;
  algorithms: string[];
  subjectClaim: string;
  updatedAt: string;
}

const Discovery = z.object({ issuer: z.string(), jwks_uri: z.string().url() });

function view(r: JwtTrustRow): JwtTrustView {
  return {
    issuer: r.issuer,
    audience: r.audience,
    jwksUri: r.jwks_uri,
    algorithms: r.algorithms,
    subjectClaim: r.subject_claim,
    updatedAt: r.updated_at.toISOString(),
  };
}

/** Which identity provider's access tokens a tenant accepts as bearer credentials. */
export class JwtTrustService {
  readonly #fetch: GuardedFetch;

  constructor(
    private readonly db: Database,
    private readonly clients: OidcClients,
    allowPrivate: boolean,
  ) {
    this.#fetch = guardedFetch(allowPrivate);
  }

  /** The issuer's JWKS address, from its discovery document when not given. */
  async #jwksUri(input: JwtTrustInput): Promise<string> {
    await this.clients.assertIssuerAllowed(input.issuer);
    if (input.jwksUri) {
      await this.clients.assertIssuerAllowed(input.jwksUri);
      return input.jwksUri;
    }
    const url = `${input.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    try {
      const res = await this.#fetch(url, {
        method: 'GET',
        headers: { accept: 'application/json' },
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const doc = Discovery.parse(await res.json());
      if (doc.issuer !== input.issuer) throw new Error(`the document names issuer ${doc.issuer}`);
      return doc.jwks_uri;
    } catch (err) {
      throw new InvalidInput(`Discovery of ${input.issuer} failed: ${messageOf(err)}`);
    }
  }

  async put(principal: Principal, input: JwtTrustInput, meta: RequestMeta): Promise<JwtTrustView> {
    const jwksUri = await this.#jwksUri(input);
    const row = await this.db.withTenant(principal, async (tx) => {
      const stored = await upsertJwtTrust(tx, {
        issuer: input.issuer,
        audience: input.audience,
        jwks_uri: jwksUri,
        algorithms: input.algorithms,
        subject_claim: input.subjectClaim,
      });
      if (!stored)
        throw new Conflict(
          'Another tenant already trusts this issuer for this audience; use an audience of your own.',
          'issuer_audience_taken',
        );
      await auditSuccess(
        tx,
        principal,
        meta,
        'jwt_trust.updated',
        { type: 'jwt_trust', id: principal.tenantId },
        { ...input, jwksUri },
      );
      return getJwtTrust(tx);
    });
    if (!row) throw new NotFound('JWT trust');
    return view(row);
  }

  async get(principal: Principal): Promise<JwtTrustView> {
    const row = await this.db.withTenant(principal, (tx) => getJwtTrust(tx));
    if (!row) throw new NotFound('JWT trust');
    return view(row);
  }

  async remove(principal: Principal, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(principal, async (tx) => {
      if (!(await deleteJwtTrust(tx))) throw new NotFound('JWT trust');
      await auditSuccess(tx, principal, meta, 'jwt_trust.deleted', {
        type: 'jwt_trust',
        id: principal.tenantId,
      });
    });
  }
}
