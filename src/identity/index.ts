import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Metrics } from '../platform/telemetry/metrics.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { AuthService } from './authenticate.js';
import type { GroupRemoval } from './groups-service.js';
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

export type { AuthService } from './authenticate.js';
export type { ApiKeyService } from './keys-service.js';
export type { TenantService } from './tenants-service.js';
export { ROLE_PERMISSIONS, isRole, mayGrant, type Role } from './permissions.js';
export { currentStanding } from './standing-service.js';

export interface IdentityDeps {
  db: Database;
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
  >;
  /** Encrypts stored identity-provider secrets; sign-in settings cannot be stored without it. */
  keyring: Keyring | undefined;
  metrics: Metrics;
  redis?: Redis | undefined;
  /** Called after a key's gateway models/limits change: the gateway drops the tenant's config. */
  onGatewayLimitsChanged: (tenantId: string) => void;
  /** What other features remove when a group is deleted (the knowledge hub's document grants). */
  groupRemovals: Record<string, GroupRemoval>;
}

export interface Identity {
  auth: AuthService;
  tenants: TenantService;
  keys: ApiKeyService;
  routes: AnyRoute[];
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
  const clients = new OidcClients(config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES);
  const auth = new AuthService({
    sessions: verifier,
    jwt: new JwtBearer(db, config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES),
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
  return {
    auth,
    tenants,
    keys,
    routes: [
      ...identityRoutes({ tenants, keys }),
      ...signinRoutes(
        oidc,
        sessions,
        new JwtTrustService(db, clients, config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES),
      ),
      ...localRoutes(
        new LocalAccountService(db, deps.serverSecret, deps.keyring, sessions, publicUrl),
      ),
      ...peopleRoutes(db, {
        removals: deps.groupRemovals,
        onKeysChanged: (ids) => ids.forEach((id) => auth.cache.evictKey(id)),
      }),
    ],
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
