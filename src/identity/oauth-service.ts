import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { AppError } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import type { AccessTokens } from './access-tokens.js';
import { OAuthError, type OAuthClients } from './oauth-clients.js';
import {
  findAuthorizationCode,
  insertAuthorizationCode,
  redeemAuthorizationCode,
  setCodeFamily,
  type OAuthClientRow,
} from './oauth-store.js';
import type { TokenGrants } from './token-grants.js';
import { revokeTokenFamily } from './tokens-store.js';
import { getMember } from './users-store.js';

/** The one scope Rampart's authorization server grants: the person's own MCP tools. */
export const OAUTH_SCOPE = 'mcp';
/** An authorization code is redeemed at once by a client that just got it back. */
const CODE_TTL_MS = 60_000;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const CODE_SHAPE = /^rmac_[A-Za-z0-9_-]{43}$/;

/** A validated authorization request (RFC 6749 §4.1.1 with PKCE, RFC 8707 and `state`). */
export interface AuthorizationRequest {
  client: OAuthClientRow;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  resource: string;
  scope: string;
}

/** An error to send back to the client's (validated) redirect URI (RFC 6749 §4.1.2.1). */
export interface RedirectedError {
  redirectUri: string;
  error: string;
  description: string;
  state: string | undefined;
}

/** 400 before the redirect URI is known good: shown to the person, never redirected. */
class AuthorizationRefused extends AppError {
  constructor(code: string, message: string) {
    super(400, code, message);
  }
}

export interface OAuthTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

export interface OAuthServerDeps {
  db: Database;
  serverSecret: string;
  clients: OAuthClients;
  grants: TokenGrants;
  tokens: AccessTokens;
  /** The resource tokens are issued for: `<PUBLIC_URL>/mcp`. */
  resource: string;
  /** True while the tenant is disabled (offboarding): nothing is issued for it. */
  tenantDisabled(tenantId: string): boolean;
  /** A family revoked here: this instance forgets its cached standing at once. */
  onFamilyRevoked(familyId: string): void;
  /** The pre-authentication budget (AuthService.preAuth) for lookups by code or token. */
  preAuth<T>(fn: () => Promise<T>): Promise<T>;
}

function one(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Rampart's OAuth 2.1 authorization server for its own MCP resource: the authorization request
 * (validated in two stages: what makes the redirect URI trustworthy, then the rest), the
 * person's consent, single-use codes bound to client, redirect URI, PKCE challenge, resource and
 * person, the token endpoint (authorization_code, refresh_token) and revocation (RFC 7009).
 */
export class OAuthServer {
  constructor(private readonly d: OAuthServerDeps) {}

  get issuer(): string {
    return this.d.tokens.issuer;
  }

  get resource(): string {
    return this.d.resource;
  }

  #codeHash(code: string): Buffer {
    return createHmac('sha256', this.d.serverSecret).update(`oauth-code:${code}`).digest();
  }

  /**
   * Validates an authorization request's parameters (query or consent form). Throws before the
   * client and its redirect URI are known; afterwards returns the error to redirect with.
   */
  async validate(params: Record<string, unknown>): Promise<AuthorizationRequest | RedirectedError> {
    for (const [k, v] of Object.entries(params))
      if (typeof v !== 'string')
        throw new AuthorizationRefused('invalid_request', `The parameter ${k} is repeated.`);
    const clientId = one(params.client_id);
    if (!clientId) throw new AuthorizationRefused('invalid_request', 'client_id is required.');
    const client = await this.d.clients.find(clientId);
    if (!client)
      throw new AuthorizationRefused('invalid_client', 'No client is registered with this id.');
    const asked = one(params.redirect_uri);
    const only = client.redirect_uris.length === 1 ? client.redirect_uris[0] : undefined;
    const redirectUri = asked ?? only;
    if (!redirectUri)
      throw new AuthorizationRefused(
        'invalid_request',
        'redirect_uri is required when the client registered several.',
      );
    if (!client.redirect_uris.includes(redirectUri))
      throw new AuthorizationRefused(
        'invalid_redirect_uri',
        'redirect_uri is not one the client registered (an exact match is required).',
      );
    const state = one(params.state);
    const fail = (error: string, description: string): RedirectedError => ({
      redirectUri,
      error,
      description,
      state: state !== undefined && state.length <= 1000 ? state : undefined,
    });
    if (state !== undefined && state.length > 1000)
      return fail('invalid_request', 'state is longer than 1000 characters.');
    if (params.response_type !== 'code')
      return fail('unsupported_response_type', 'Only response_type=code is supported.');
    const challenge = one(params.code_challenge);
    if (!challenge) return fail('invalid_request', 'PKCE is required: send code_challenge (S256).');
    if (params.code_challenge_method !== 'S256')
      return fail('invalid_request', 'code_challenge_method must be S256 (plain is refused).');
    if (!CHALLENGE.test(challenge))
      return fail('invalid_request', 'code_challenge is not a base64url SHA-256 digest.');
    const resource = one(params.resource) ?? this.d.resource;
    if (resource !== this.d.resource)
      return fail('invalid_target', `Tokens are issued only for ${this.d.resource}.`);
    const scope = one(params.scope) ?? '';
    if (scope.length > 500) return fail('invalid_scope', 'scope is too long.');
    // Every other requested scope value is ignored (RFC 6749 §3.3): what a token allows is the
    // person's role, and the response says which scope was granted.
    return { client, redirectUri, state, codeChallenge: challenge, resource, scope: OAUTH_SCOPE };
  }

  /** The person's e-mail (shown on the consent page). */
  async personOf(principal: Principal): Promise<string> {
    const userId = principal.userId;
    if (!userId) return '';
    const member = await this.d.db.withTenant(principal, (tx) => getMember(tx, userId));
    return member?.email ?? '';
  }

  /** The person approved: a single-use code for the client, audited in their tenant's log. */
  async approve(
    principal: Principal,
    req: AuthorizationRequest,
    meta: RequestMeta,
  ): Promise<string> {
    const userId = principal.userId;
    if (!userId) throw new AppError(403, 'person_required', 'Only a signed-in person can consent.');
    const code = `rmac_${randomBytes(32).toString('base64url')}`;
    await this.d.db.withTenant(principal, async (tx) => {
      await insertAuthorizationCode(tx, {
        hash: this.#codeHash(code),
        userId,
        clientId: req.client.id,
        redirectUri: req.redirectUri,
        codeChallenge: req.codeChallenge,
        resource: req.resource,
        scope: req.scope,
        expiresAt: new Date(Date.now() + CODE_TTL_MS),
      });
      await appendAuditEvent(tx, {
        actor: { type: 'user', id: userId },
        action: 'oauth.authorized',
        target: { type: 'oauth_client', id: req.client.id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: this.#clientDetails(req),
      });
    });
    return code;
  }

  /** The person refused: nothing is issued; the refusal is audited. */
  async deny(principal: Principal, req: AuthorizationRequest, meta: RequestMeta): Promise<void> {
    await this.d.db.withTenant(principal, (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'user', id: principal.userId },
        action: 'oauth.denied',
        target: { type: 'oauth_client', id: req.client.id },
        outcome: 'denied',
        ip: meta.ip,
        requestId: meta.requestId,
        details: this.#clientDetails(req),
      }),
    );
  }

  #clientDetails(req: AuthorizationRequest): Record<string, unknown> {
    return {
      clientName: req.client.client_name,
      redirectHost: new URL(req.redirectUri).host,
      resource: req.resource,
      scope: req.scope,
    };
  }

  /** POST /oauth/token: the client is authenticated, then its grant exchanged. */
  async token(
    authorization: string | undefined,
    form: Record<string, string>,
    meta: RequestMeta,
  ): Promise<OAuthTokenResponse> {
    const grantType = form.grant_type;
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token')
      throw new OAuthError(
        grantType ? 'unsupported_grant_type' : 'invalid_request',
        grantType
          ? `grant_type ${grantType} is not supported.`
          : 'grant_type is required (authorization_code or refresh_token).',
      );
    const client = await this.d.clients.authenticate(authorization, form);
    if (form.resource !== undefined && form.resource !== this.d.resource)
      throw new OAuthError('invalid_target', `Tokens are issued only for ${this.d.resource}.`);
    if (grantType === 'refresh_token') {
      const refresh = form.refresh_token;
      if (!refresh) throw new OAuthError('invalid_request', 'refresh_token is required.');
      const family = await this.d.preAuth(() => this.d.grants.findFamily(refresh));
      if (family && this.d.tenantDisabled(family.tenant_id))
        throw new OAuthError('invalid_grant', 'The tenant is disabled.');
      const issued = await this.d.preAuth(() =>
        this.d.grants.refresh(refresh, meta, client.id, OAUTH_SCOPE),
      );
      return { ...this.#body(issued), scope: OAUTH_SCOPE };
    }
    return this.#redeem(client, form, meta);
  }

  async #redeem(
    client: OAuthClientRow,
    form: Record<string, string>,
    meta: RequestMeta,
  ): Promise<OAuthTokenResponse> {
    const { code, code_verifier: verifier } = form;
    if (!code) throw new OAuthError('invalid_request', 'code is required.');
    if (!verifier) throw new OAuthError('invalid_request', 'code_verifier is required (PKCE).');
    const refused = new OAuthError('invalid_grant', 'Invalid, expired or used authorization code.');
    if (!CODE_SHAPE.test(code)) throw refused;
    const hash = this.#codeHash(code);
    const found = await this.d.preAuth(() =>
      this.d.db.withOperator((tx) => findAuthorizationCode(tx, hash)),
    );
    // Another client's code is not touched: presenting it proves nothing about its owner.
    if (!found || found.client_id !== client.id) throw refused;
    const ctx = { tenantId: found.tenant_id, userId: found.user_id, groups: [] };
    const redirectUri =
      form.redirect_uri ?? (client.redirect_uris.length === 1 ? client.redirect_uris[0] : '');
    const outcome = await this.d.db.withTenant(ctx, async (tx) => {
      const redeemed = await redeemAuthorizationCode(tx, hash);
      if (!redeemed.first) {
        // A code used twice was intercepted (or replayed): what it issued is revoked (RFC 6749 §4.1.2).
        const family = redeemed.previousFamily;
        if (family) await revokeTokenFamily(tx, family, 'authorization_code_reused');
        await appendAuditEvent(tx, {
          actor: { type: 'user', id: found.user_id },
          action: 'authorization_code.reused',
          target: { type: 'oauth_client', id: client.id },
          outcome: 'denied',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { familyRevoked: family },
        });
        return { reused: family };
      }
      // The code is spent from here on, whatever follows: a wrong verifier cannot be retried.
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (
        found.expires_at.getTime() <= Date.now() ||
        !found.active ||
        this.d.tenantDisabled(found.tenant_id) ||
        !VERIFIER.test(verifier) ||
        challenge !== found.code_challenge ||
        redirectUri !== found.redirect_uri
      )
        return { refused: true };
      const opened = await this.d.grants.openFamily(tx, {
        userId: found.user_id,
        sessionId: null,
        audience: found.resource,
        clientId: client.id,
        meta,
        details: { grant: 'authorization_code', clientId: client.id, audience: found.resource },
      });
      await setCodeFamily(tx, hash, opened.familyId);
      return { opened };
    });
    if ('reused' in outcome) {
      if (outcome.reused) this.d.onFamilyRevoked(outcome.reused);
      throw new OAuthError(
        'invalid_grant',
        'This authorization code was already used: the tokens it issued are revoked.',
      );
    }
    if ('refused' in outcome) throw refused;
    const access = await this.d.tokens.mint({
      tenantId: found.tenant_id,
      userId: found.user_id,
      familyId: outcome.opened.familyId,
      audience: found.resource,
      clientId: client.id,
      scope: found.scope,
    });
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: outcome.opened.refresh,
      scope: found.scope,
    };
  }

  #body(issued: {
    access_token: string;
    expires_in: number;
    refresh_token: string;
  }): Omit<OAuthTokenResponse, 'scope'> {
    return {
      access_token: issued.access_token,
      token_type: 'Bearer',
      expires_in: issued.expires_in,
      refresh_token: issued.refresh_token,
    };
  }

  /**
   * POST /oauth/revoke (RFC 7009): a refresh token, or an access token, of this client revokes its
   * whole family. An unknown or foreign token changes nothing and is answered the same way.
   */
  async revoke(
    authorization: string | undefined,
    form: Record<string, string>,
    meta: RequestMeta,
  ): Promise<void> {
    const client = await this.d.clients.authenticate(authorization, form);
    const token = form.token;
    if (!token) throw new OAuthError('invalid_request', 'token is required.');
    let target: { tenantId: string; userId: string; familyId: string } | undefined;
    const family = await this.d.preAuth(() => this.d.grants.findFamily(token));
    if (family?.client_id === client.id)
      target = { tenantId: family.tenant_id, userId: family.user_id, familyId: family.family_id };
    else if (!family && this.d.tokens.isOwn(token)) {
      const verdict = await this.d.tokens.verify(token, this.d.resource);
      if ('claims' in verdict && verdict.claims.clientId === client.id)
        target = {
          tenantId: verdict.claims.tenantId,
          userId: verdict.claims.userId,
          familyId: verdict.claims.familyId,
        };
    }
    if (!target) return;
    const { tenantId, userId, familyId } = target;
    const revoked = await this.d.db.withTenant({ tenantId, userId, groups: [] }, async (tx) => {
      const done = await revokeTokenFamily(tx, familyId, 'revoked_by_client');
      if (done)
        await appendAuditEvent(tx, {
          actor: { type: 'user', id: userId },
          action: 'token.revoked',
          target: { type: 'token_family', id: familyId },
          outcome: 'success',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { clientId: client.id },
        });
      return done;
    });
    if (revoked) this.d.onFamilyRevoked(familyId);
  }
}
