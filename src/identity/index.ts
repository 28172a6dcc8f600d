import type { FastifyInstance } from 'fastify';
import type { QuotaGate } from '../platform/quota.js';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import { Counter } from 'prom-client';
import type { AnyRoute } from '../platform/http/route.js';
import type { Principal } from '../platform/http/principal.js';
import type { Metrics } from '../platform/telemetry/metrics.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { AuthService } from './authenticate.js';
import { GroupService, type GroupRemoval } from './groups-service.js';
import { ScimGroups } from './scim-groups.js';
import { scimRoutes } from './scim-routes.js';
import { ScimTokens } from './scim-token.js';
import { ScimUsers } from './scim-users.js';
import { ApiKeyService } from './keys-service.js';
import { peopleRoutes } from './people-routes.js';
import { identityRoutes } from './routes.js';
import { OidcClients } from './oidc-client.js';
import { OidcService } from './oidc-service.js';
import { cookieNames } from './session-cookies.js';
import { SessionVerifier } from './session-verifier.js';
import { SessionService } from './sessions-service.js';
import { signinRoutes } from './signin-routes.js';
import { LocalAccountService } from './local-service.js';
import { localRoutes } from './local-routes.js';
import { JwtBearer } from './jwt-bearer.js';
import { JwtTrustService } from './jwt-service.js';
import { TenantService } from './tenants-service.js';
import { AccessTokens } from './access-tokens.js';
import { SigningKeys } from './signing-keys.js';
import { TokenGrants } from './token-grants.js';
import { tokenRoutes } from './token-routes.js';
import { AccessTokenVerifier } from './token-verifier.js';
import { AuthThrottle } from './auth-throttle.js';
import { OAuthClients } from './oauth-clients.js';
import { registerOAuthRoutes } from './oauth-routes.js';
import { OAuthServer } from './oauth-service.js';
import { OAuthGrants } from './oauth-grants.js';
import { oauthGrantRoutes } from './oauth-grant-routes.js';

export type { AuthService } from './authenticate.js';
export type { ApiKeyService } from './keys-service.js';
export type { TenantService } from './tenants-service.js';
export {
  RAMPART_AUDIENCE,
  type AccessTokens,
  type AccessTokenClaims,
  type AccessTokenVerdict,
} from './access-tokens.js';
export type { SigningKeys } from './signing-keys.js';
export { ROLE_PERMISSIONS, isRole, mayGrant, type Role } from './permissions.js';
export { currentStanding } from './standing-service.js';
export { notifyTenantStanding } from './disabled-tenants.js';
export { notifyUserKeysChanged } from './keys-store.js';

export interface IdentityDeps {
  db: Database;
  /** Plans' quotas (seats: an invitation reserves one). */
  quotas?: QuotaGate | undefined;
  logger: Logger;
  serverSecret: string;
  config: Pick<
    Config,
    | 'RAMPART_ROOT_TOKEN'
    | 'API_KEY_CACHE_TTL_MS'
    | 'AUTH_FAILURES_PER_MINUTE'
    | 'AUTH_FAILURES_PER_KEY_PREFIX_PER_MINUTE'
    | 'AUTH_NEGATIVE_CACHE_TTL_MS'
    | 'AUTH_PREAUTH_CONCURRENCY'
    | 'PUBLIC_URL'
    | 'PORT'
    | 'SESSION_IDLE_TIMEOUT_MINUTES'
    | 'SESSION_ABSOLUTE_TIMEOUT_HOURS'
    | 'OUTBOUND_ALLOW_PRIVATE_ADDRESSES'
    | 'ACCESS_TOKEN_TTL_SECONDS'
    | 'REFRESH_TOKEN_TTL_HOURS'
    | 'REFRESH_TOKEN_ABSOLUTE_DAYS'
    | 'REFRESH_TOKEN_REUSE_GRACE_SECONDS'
    | 'SIGNING_KEY_ROTATION_DAYS'
    | 'OAUTH_REGISTRATIONS_PER_MINUTE'
  >;
  /** Encrypts stored identity-provider secrets; sign-in settings cannot be stored without it. */
  keyring: Keyring | undefined;
  metrics: Metrics;
  redis?: Redis | undefined;
  /** Called after a key's gateway models/limits change: the gateway drops the tenant's config. */
  onGatewayLimitsChanged: (tenantId: string) => void;
  /** What other features remove when a group is deleted (the knowledge hub's document grants). */
  groupRemovals: Record<string, GroupRemoval>;
  /** Audiences besides `rampart` that POST /auth/token may issue tokens for (e.g. an MCP server's URI). */
  tokenAudiences?: readonly string[];
  /**
   * The resource Rampart's OAuth authorization server issues tokens for (`<PUBLIC_URL>/mcp`);
   * without it the authorization server is not served.
   */
  oauthResource?: string | undefined;
}

/** Verifies Rampart access tokens minted for an audience other than the API's. */
export interface OwnAccessTokens {
  /** True when the token names this Rampart as its issuer (not yet verified). */
  isOwn(token: string): boolean;
  /** The principal the token stands for while its grant is live, if it was minted for `audience`. */
  verify(token: string, audience: string): Promise<Principal | undefined>;
}

export interface Identity {
  auth: AuthService;
  tenants: TenantService;
  keys: ApiKeyService;
  /** Mints and verifies Rampart access tokens for any audience (see access-tokens.ts). */
  tokens: AccessTokens;
  /** The token signing keys (rotation: `rampart tokens rotate-key`). */
  signingKeys: SigningKeys;
  /** Rampart's own access tokens, for endpoints with an audience of their own (/mcp). */
  accessTokens: OwnAccessTokens;
  routes: AnyRoute[];
  /** Serves the OAuth 2.1 authorization server (oauth-routes.ts) when `oauthResource` is set. */
  registerOAuth(app: FastifyInstance): Promise<void>;
  /** The authorization server's issuer (for the protected resource's metadata), when served. */
  authorizationServer: string | undefined;
  /** Stops listening for key events and flushes the pending auth-failure audit events. */
  close(): Promise<void>;
}

/** Builds the identity feature and starts its authenticator (key events, failure audit). */
export async function createIdentity(deps: IdentityDeps): Promise<Identity> {
  const { config, db } = deps;
  const publicUrl = config.PUBLIC_URL ?? `http://localhost:${config.PORT}`;
  const verifier = new SessionVerifier(
    db,
    deps.serverSecret,
    cookieNames(publicUrl),
    new URL(publicUrl).origin,
    config.API_KEY_CACHE_TTL_MS,
  );
  // Identity providers that cannot be reached (discovery, JWKS, token endpoint: no connection,
  // a bad certificate, a timeout or a 5xx) stop sign-ins; RampartIdentityProviderUnreachable.
  const providerFailures = new Counter({
    name: 'rampart_identity_provider_failures_total',
    help: 'Failed calls to identity providers (no connection, TLS/certificate error, timeout or 5xx) by kind: oidc (sign-in: discovery, token, userinfo) or jwks (trusted JWT issuers).',
    labelNames: ['kind'],
    registers: [deps.metrics.registry],
  });
  const clients = new OidcClients(config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES, () =>
    providerFailures.inc({ kind: 'oidc' }),
  );
  const signingKeys = new SigningKeys(db, deps.keyring, {
    rotationDays: config.SIGNING_KEY_ROTATION_DAYS,
    maxTokenTtlS: config.ACCESS_TOKEN_TTL_SECONDS,
  });
  const tokens = new AccessTokens(signingKeys, publicUrl, config.ACCESS_TOKEN_TTL_SECONDS);
  const tokenVerifier = new AccessTokenVerifier(db, tokens, config.API_KEY_CACHE_TTL_MS);
  const scimTokens = new ScimTokens(db, deps.serverSecret, config.API_KEY_CACHE_TTL_MS, publicUrl);
  const auth = new AuthService({
    sessions: verifier,
    tokens: tokenVerifier,
    scim: scimTokens,
    jwt: new JwtBearer(db, config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES, tokenVerifier, () =>
      providerFailures.inc({ kind: 'jwks' }),
    ),
    db,
    serverSecret: deps.serverSecret,
    rootToken: config.RAMPART_ROOT_TOKEN,
    cacheTtlMs: config.API_KEY_CACHE_TTL_MS,
    metrics: deps.metrics,
    redis: deps.redis,
    throttle: {
      perAddress: config.AUTH_FAILURES_PER_MINUTE,
      perKeyPrefix: config.AUTH_FAILURES_PER_KEY_PREFIX_PER_MINUTE,
    },
    negativeCacheTtlMs: config.AUTH_NEGATIVE_CACHE_TTL_MS,
    preAuthConcurrency: config.AUTH_PREAUTH_CONCURRENCY,
    onBackgroundError: (err, what) => deps.logger.warn({ err }, `${what} failed`),
  });
  await auth.start();
  const keys = new ApiKeyService(db, deps.serverSecret, deps.onGatewayLimitsChanged, auth);
  const tenants = new TenantService(db, keys);
  const sessions = new SessionService(
    db,
    deps.serverSecret,
    {
      idleMinutes: config.SESSION_IDLE_TIMEOUT_MINUTES,
      absoluteHours: config.SESSION_ABSOLUTE_TIMEOUT_HOURS,
    },
    verifier,
  );
  const oidc = new OidcService(db, deps.serverSecret, deps.keyring, clients, sessions, publicUrl);
  const grants = new TokenGrants(
    db,
    deps.serverSecret,
    tokens,
    verifier,
    {
      refreshTtlHours: config.REFRESH_TOKEN_TTL_HOURS,
      refreshAbsoluteDays: config.REFRESH_TOKEN_ABSOLUTE_DAYS,
      reuseGraceSeconds: config.REFRESH_TOKEN_REUSE_GRACE_SECONDS,
    },
    deps.tokenAudiences,
  );
  const onKeysChanged = (ids: readonly string[]) => ids.forEach((id) => auth.cache.evictKey(id));
  // Drops this instance's cached principals of a user at once (others by NOTIFY).
  const onUserChanged = (userId: string, keyIds: readonly string[]) => {
    verifier.evictUser(userId);
    tokenVerifier.evictUser(userId);
    onKeysChanged(keyIds);
  };
  const groupDeps = { removals: deps.groupRemovals, onKeysChanged };
  const oauthResource = deps.oauthResource;
  const tenantDisabled = (tenantId: string) => auth.disabledTenants.has(tenantId);
  const oauthClients = new OAuthClients(
    db,
    deps.serverSecret,
    new AuthThrottle(
      { perAddress: config.OAUTH_REGISTRATIONS_PER_MINUTE, perKeyPrefix: 0 },
      deps.redis,
      Date.now,
      'oauthreg',
    ),
    (fn) => auth.preAuth(fn),
  );
  const scimBase = `${publicUrl}/scim/v2`;
  return {
    auth,
    tenants,
    keys,
    tokens,
    signingKeys,
    accessTokens: {
      isOwn: (token) => tokenVerifier.isOwn(token),
      async verify(token, audience) {
        const verdict = await tokenVerifier.verify(token, audience);
        if (!('principal' in verdict)) return undefined;
        // An offboarded tenant's tokens stop here too (/mcp verifies them without auth.tenant).
        return auth.disabledTenants.has(verdict.principal.tenantId) ? undefined : verdict.principal;
      },
    },
    routes: [
      ...tokenRoutes(grants, signingKeys),
      ...identityRoutes({ tenants, keys }),
      ...signinRoutes(
        oidc,
        sessions,
        new JwtTrustService(db, clients, config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES),
      ),
      ...localRoutes(
        new LocalAccountService(
          db,
          deps.serverSecret,
          deps.keyring,
          sessions,
          publicUrl,
          deps.redis,
          deps.quotas,
        ),
      ),
      ...oauthGrantRoutes(new OAuthGrants(db, (id) => tokenVerifier.evictFamily(id))),
      ...peopleRoutes(db, groupDeps),
      ...scimRoutes({
        users: new ScimUsers(db, scimBase, onUserChanged),
        groups: new ScimGroups(db, scimBase, new GroupService(db, groupDeps), onUserChanged),
        tokens: scimTokens,
        base: scimBase,
      }),
    ],
    authorizationServer: oauthResource ? tokens.issuer : undefined,
    registerOAuth: async (app) => {
      if (!oauthResource) return;
      await registerOAuthRoutes(app, {
        server: new OAuthServer({
          db,
          serverSecret: deps.serverSecret,
          clients: oauthClients,
          grants,
          tokens,
          resource: oauthResource,
          tenantDisabled,
          onFamilyRevoked: (id) => tokenVerifier.evictFamily(id),
          preAuth: (fn) => auth.preAuth(fn),
        }),
        clients: oauthClients,
        sessions: verifier,
        serverSecret: deps.serverSecret,
        publicOrigin: new URL(publicUrl).origin,
        tenantDisabled,
      });
    },
    close: () => auth.stop(),
  };
}

/**
 * The operator's lookup of a tenant by slug (the CLI's `audit verify`): through the narrow
 * SECURITY DEFINER function, identifiers only.
 */
export async function findTenantBySlug(
  db: Database,
  serverSecret: string,
  slug: string,
): Promise<Awaited<ReturnType<TenantService['findBySlug']>>> {
  return new TenantService(db, new ApiKeyService(db, serverSecret)).findBySlug(slug);
}

/** `rampart tokens rotate-key`: a new token signing key now; the old ones stay published until their tokens expire. */
export async function rotateSigningKey(
  db: Database,
  keyring: Keyring | undefined,
  config: Pick<Config, 'SIGNING_KEY_ROTATION_DAYS' | 'ACCESS_TOKEN_TTL_SECONDS'>,
): Promise<{ kid: string; retired: string[] }> {
  return new SigningKeys(db, keyring, {
    rotationDays: config.SIGNING_KEY_ROTATION_DAYS,
    maxTokenTtlS: config.ACCESS_TOKEN_TTL_SECONDS,
  }).rotate(true);
}
