import type { FastifyReply, FastifyRequest } from 'fastify';
import { appendAuditEvent, auditSuccess } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { AppError, NotFound, ServiceUnavailable, Unauthorized } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { messageOf } from '../platform/checked.js';
import { capUserKeyRoles, notifyUserKeysChanged } from './keys-store.js';
import { discoveryFailed, oidc, type OidcClients } from './oidc-client.js';
import {
  deleteOidcConfig,
  findIdentityUser,
  getOidcConfig,
  insertIdentity,
  secretEnvelopeOf,
  syncUserGroups,
  upsertOidcConfig,
  type OidcConfigRow,
} from './oidc-store.js';
import { ROLES, isRole, rolesUpTo, type Role } from './permissions.js';
import {
  appendCookies,
  openLoginState,
  readCookie,
  sealLoginState,
  setCookie,
} from './session-cookies.js';
import type { SessionService } from './sessions-service.js';
import { findTenantBySlug } from './tenants-store.js';
import { ensureUser, getMember, insertMembership, updateMemberRole } from './users-store.js';

export type MappedRole = 'admin' | 'member' | 'viewer';

export interface OidcConfigInput {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  groupsClaim: string;
  roleMapping: Record<string, MappedRole>;
  defaultRole: MappedRole;
  allowedEmailDomains: string[];
}

export interface OidcConfigView extends Omit<OidcConfigInput, 'clientSecret'> {
  clientSecretSet: true;
  redirectUri: string;
  loginUrl: string;
  updatedAt: string;
}

/** How long the browser has between the login redirect and the callback. */
const LOGIN_STATE_TTL_S = 600;
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const MAX_GROUPS = 200;

/** A refusal during the callback, with the reason the audit records. */
class SignInRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function secretContext(tenantId: string): string {
  return `oidc:${tenantId}`;
}

function stringsOf(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The highest role any claim value maps to, else the default. */
export function roleFromClaims(
  values: readonly string[],
  mapping: Record<string, string>,
  defaultRole: string,
): Role {
  let best = isRole(defaultRole) ? defaultRole : 'viewer';
  let mapped: Role | undefined;
  for (const v of values) {
    const r = Object.hasOwn(mapping, v) ? mapping[v] : undefined;
    if (r && isRole(r) && r !== 'owner' && (!mapped || ROLES.indexOf(r) < ROLES.indexOf(mapped)))
      mapped = r;
  }
  if (mapped) best = mapped;
  return best;
}

/** OpenID Connect sign-in for a tenant: its provider's settings, the login redirect, the callback. */
export class OidcService {
  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    private readonly keyring: Keyring | undefined,
    private readonly clients: OidcClients,
    private readonly sessions: SessionService,
    private readonly publicUrl: string,
  ) {}

  get redirectUri(): string {
    return `${this.publicUrl}/auth/callback`;
  }

  #ring(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'The OIDC client secret cannot be stored: RAMPART_MASTER_KEY is not configured.',
        'master_key_missing',
      );
    return this.keyring;
  }

  #view(slug: string, r: OidcConfigRow): OidcConfigView {
    return {
      issuer: r.issuer,
      clientId: r.client_id,
      clientSecretSet: true,
      scopes: r.scopes,
      groupsClaim: r.groups_claim,
      roleMapping: Object.fromEntries(
        Object.entries(r.role_mapping).filter((e): e is [string, MappedRole] =>
          ['admin', 'member', 'viewer'].includes(e[1]),
        ),
      ),
      defaultRole:
        r.default_role === 'admin' || r.default_role === 'viewer' ? r.default_role : 'member',
      allowedEmailDomains: r.allowed_email_domains,
      redirectUri: this.redirectUri,
      loginUrl: `${this.publicUrl}/auth/${slug}/login`,
      updatedAt: r.updated_at.toISOString(),
    };
  }

  /** Stores the tenant's provider after discovering it (so a wrong issuer is refused now, not at login). */
  async put(
    principal: Principal,
    input: OidcConfigInput,
    meta: RequestMeta,
  ): Promise<OidcConfigView> {
    const ring = this.#ring();
    try {
      await this.clients.discover(input);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw discoveryFailed(input.issuer, err);
    }
    const row = await this.db.withTenant(principal, async (tx) => {
      await upsertOidcConfig(tx, {
        ...input,
        secret: ring.encrypt(input.clientSecret, secretContext(principal.tenantId)),
      });
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action: 'oidc_config.updated',
        target: { type: 'oidc_config', id: principal.tenantId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: {
          issuer: input.issuer,
          clientId: input.clientId,
          scopes: input.scopes,
          groupsClaim: input.groupsClaim,
          roleMapping: input.roleMapping,
          defaultRole: input.defaultRole,
          allowedEmailDomains: input.allowedEmailDomains,
        },
      });
      return getOidcConfig(tx);
    });
    this.clients.forget(principal.tenantId);
    if (!row) throw new NotFound('OIDC configuration');
    return this.#view(principal.tenantSlug, row);
  }

  async get(principal: Principal): Promise<OidcConfigView> {
    const row = await this.db.withTenant(principal, (tx) => getOidcConfig(tx));
    if (!row) throw new NotFound('OIDC configuration');
    return this.#view(principal.tenantSlug, row);
  }

  async remove(principal: Principal, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(principal, async (tx) => {
      if (!(await deleteOidcConfig(tx))) throw new NotFound('OIDC configuration');
      await auditSuccess(tx, principal, meta, 'oidc_config.deleted', {
        type: 'oidc_config',
        id: principal.tenantId,
      });
    });
    this.clients.forget(principal.tenantId);
  }

  async #provider(tx: TenantTx): Promise<{ row: OidcConfigRow; config: oidc.Configuration }> {
    const row = await getOidcConfig(tx);
    if (!row) throw new NotFound('OIDC sign-in for this tenant');
    const clientSecret = this.#ring().decrypt(secretEnvelopeOf(row), secretContext(tx.tenantId));
    const config = await this.clients.configFor(tx.tenantId, {
      issuer: row.issuer,
      clientId: row.client_id,
      clientSecret,
      version: row.updated_at.toISOString(),
    });
    return { row, config };
  }

  /** The authorization request: PKCE (S256), state and nonce, sealed in a short-lived cookie. */
  async loginUrl(slug: string, reply: FastifyReply): Promise<string> {
    const tenant = await this.db.withOperator((op) => findTenantBySlug(op, slug));
    if (!tenant || tenant.slug.startsWith('_')) throw new NotFound('Tenant');
    const { row, config } = await this.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
      this.#provider(tx),
    );
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: row.scopes.join(' '),
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const sealed = sealLoginState(this.serverSecret, {
      tenantId: tenant.id,
      tenantSlug: tenant.slug,
      state,
      nonce,
      codeVerifier,
      expiresAt: Date.now() + LOGIN_STATE_TTL_S * 1000,
    });
    const names = this.sessions.names;
    appendCookies(reply, [
      setCookie(names, names.login, sealed, { maxAgeS: LOGIN_STATE_TTL_S, httpOnly: true }),
    ]);
    return url.href;
  }

  /**
   * The redirect back from the provider: openid-client checks state, the `iss` parameter, the
   * code exchange with the PKCE verifier, and the ID token (signature, issuer, audience, expiry,
   * nonce); then the member is provisioned or updated, and a session starts.
   */
  async callback(request: FastifyRequest, reply: FastifyReply, meta: RequestMeta): Promise<string> {
    const names = this.sessions.names;
    const sealed = readCookie(request, names.login);
    // The sign-in state is single-use in the browser: cleared whatever happens next.
    appendCookies(reply, [setCookie(names, names.login, '', { maxAgeS: 0, httpOnly: true })]);
    const login = sealed ? openLoginState(this.serverSecret, sealed) : undefined;
    if (!login)
      throw new Unauthorized(
        'The sign-in expired or did not start here; start again from the login page.',
        'sign_in_failed',
      );
    const ctx = { tenantId: login.tenantId, groups: [] };
    try {
      const { row, config } = await this.db.withTenant(ctx, (tx) => this.#provider(tx));
      const current = new URL(request.url, this.publicUrl);
      let tokens;
      try {
        tokens = await oidc.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: login.codeVerifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw new SignInRefused(messageOf(err));
      }
      const idClaims = tokens.claims();
      if (!idClaims) throw new SignInRefused('no ID token');
      let claims: Record<string, unknown> = { ...idClaims };
      if (config.serverMetadata().userinfo_endpoint) {
        try {
          const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
          claims = { ...info, ...idClaims };
        } catch (err) {
          throw new SignInRefused(`userinfo: ${messageOf(err)}`);
        }
      }
      return await this.db.withTenant(ctx, (tx) =>
        this.#signIn(tx, row, claims, idClaims.sub, request, reply, meta),
      );
    } catch (err) {
      if (!(err instanceof SignInRefused)) throw err;
      await this.db.withTenant(ctx, (tx) =>
        appendAuditEvent(tx, {
          actor: { type: 'anonymous', id: null },
          action: 'user.sign_in_failed',
          target: { type: 'oidc', id: null },
          outcome: 'failure',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { method: 'oidc', reason: err.reason },
        }),
      );
      throw new Unauthorized('Sign-in was refused.', 'sign_in_failed');
    }
  }

  async #signIn(
    tx: TenantTx,
    row: OidcConfigRow,
    claims: Record<string, unknown>,
    subject: string,
    request: FastifyRequest,
    reply: FastifyReply,
    meta: RequestMeta,
  ): Promise<string> {
    const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined;
    const verified = claims.email_verified === true;
    if (row.allowed_email_domains.length > 0) {
      const domain = email?.split('@')[1];
      if (!email || !verified) throw new SignInRefused('email missing or not verified');
      if (!domain || !row.allowed_email_domains.includes(domain))
        throw new SignInRefused(`email domain ${domain ?? ''} not allowed`);
    }
    const groupValues = stringsOf(claims[row.groups_claim]);
    const role = roleFromClaims(
      [...groupValues, ...stringsOf(claims.roles)],
      row.role_mapping,
      row.default_role,
    );
    const groups = [...new Set(groupValues.filter((g) => GROUP_NAME.test(g)))].slice(0, MAX_GROUPS);
    let userId = await findIdentityUser(tx, row.issuer, subject);
    let provisioned = false;
    if (!userId) {
      if (!email) throw new SignInRefused('no email claim to provision the user with');
      const id = await ensureUser(tx, email);
      const name = typeof claims.name === 'string' ? claims.name.slice(0, 200) : '';
      provisioned = await insertMembership(tx, id, role, name);
      // An existing member is linked only by an address the provider says it verified.
      if (!provisioned && !verified)
        throw new SignInRefused('existing member, email not verified by the provider');
      await insertIdentity(tx, row.issuer, subject, id);
      userId = id;
    }
    const member = await getMember(tx, userId);
    if (!member) throw new SignInRefused('membership missing');
    if (!member.active) throw new SignInRefused('member deactivated');
    let roleChange: { from: string; to: string } | undefined;
    // An owner is made by another owner, never by claims; nor unmade by them.
    if (member.role !== 'owner' && member.role !== role) {
      await updateMemberRole(tx, userId, role);
      await capUserKeyRoles(tx, userId, rolesUpTo(role), role);
      roleChange = { from: member.role, to: role };
    }
    const groupChange = await syncUserGroups(tx, userId, groups);
    await notifyUserKeysChanged(tx, userId);
    const session = await this.sessions.start(tx, userId, 'oidc', request, reply);
    const actor = { type: 'user' as const, id: userId };
    if (provisioned)
      await appendAuditEvent(tx, {
        actor,
        action: 'user.provisioned',
        target: { type: 'user', id: userId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { method: 'oidc', issuer: row.issuer, subject, email, role, groups },
      });
    await appendAuditEvent(tx, {
      actor,
      action: 'session.started',
      target: { type: 'session', id: session.id },
      outcome: 'success',
      ip: meta.ip,
      requestId: meta.requestId,
      details: {
        method: 'oidc',
        issuer: row.issuer,
        subject,
        ...(roleChange ? { role: roleChange } : {}),
        ...(groupChange.added.length || groupChange.removed.length ? { groups: groupChange } : {}),
      },
    });
    return `${this.publicUrl}/`;
  }

  /** Where the browser goes after signing out: the provider's end-session endpoint, if it has one. */
  async endSessionUrl(principal: Principal | undefined): Promise<string> {
    const home = `${this.publicUrl}/`;
    if (!principal) return home;
    try {
      const provider = await this.db.withTenant(principal, async (tx) =>
        (await getOidcConfig(tx)) ? this.#provider(tx) : undefined,
      );
      if (!provider?.config.serverMetadata().end_session_endpoint) return home;
      return oidc.buildEndSessionUrl(provider.config, {
        client_id: provider.row.client_id,
        post_logout_redirect_uri: home,
      }).href;
    } catch {
      // The local session has ended regardless; the provider's sign-out is best effort.
      return home;
    }
  }
}
