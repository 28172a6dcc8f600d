import { createHash, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { SYSTEM_TENANT_ID, appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { NotFound, RateLimited, Unauthorized } from '../platform/http/errors.js';
import type { OperatorPrincipal, Principal, RequestMeta } from '../platform/http/principal.js';
import type { Authenticator } from '../platform/http/route.js';
import type { Metrics } from '../platform/telemetry/metrics.js';
import { AuthFailureAudit } from './auth-failure-audit.js';
import { authMetrics, type AnsweredFrom, type AuthMetrics } from './auth-metrics.js';
import { AuthThrottle, type ThrottleLimits } from './auth-throttle.js';
import { DisabledTenants } from './disabled-tenants.js';
import { KeyCache } from './key-cache.js';
import { KeyPrefixSet, RecentTokens } from './key-prefixes.js';
import { apiKeyPrefix, hashApiKey, looksLikeApiKey } from './key-secret.js';
import {
  FAMILY_EVENT,
  KEY_EVENTS_CHANNEL,
  KEY_ISSUED_EVENT,
  SESSION_EVENT,
  USER_EVENT,
  findKeyByHash,
  liveKeyPrefixes,
  type VerifiedKeyRow,
} from './keys-store.js';
import type { KeyAnnouncer } from './keys-service.js';
import { PreAuthBudget } from './preauth-budget.js';
import type { SessionVerifier } from './session-verifier.js';
import type { JwtBearer } from './jwt-bearer.js';
import type { AccessTokenVerifier } from './token-verifier.js';
import { ROLE_PERMISSIONS, isRole } from './permissions.js';

export interface AuthDeps {
  db: Database;
  serverSecret: string;
  rootToken: string | undefined;
  cacheTtlMs: number;
  metrics?: Metrics;
  /** Shares the failure counters between instances; in-process counters without it. */
  redis?: Redis | undefined;
  throttle?: ThrottleLimits;
  negativeCacheTtlMs?: number;
  preAuthConcurrency?: number;
  /** How often aggregated failure audit events are appended (default 2 s). */
  auditFlushMs?: number;
  onBackgroundError?: (err: unknown, what: string) => void;
  /** Browser sessions (cookie): verified into the same Principal as keys. */
  sessions?: SessionVerifier;
  /** Identity-provider access tokens a tenant trusts (external JWT bearer). */
  jwt?: JwtBearer;
  /** Rampart's own access tokens: their cached grants are dropped on key events. */
  tokens?: AccessTokenVerifier;
  /** Tenants' SCIM bearer tokens (a principal that may only provision). */
  scim?: {
    looksLikeScimToken(token: string): boolean;
    verify(token: string): Promise<Principal | undefined>;
  };
}

/** Where a refusal is recorded: the key's own tenant chain, or the _system chain. */
/**
 * A throttled request's 429 is held this long (a tarpit): a closed-loop flood then sends one
 * request per connection per second instead of as many as the event loop can answer, so it
 * cannot take the CPU the tenants' requests need. At most MAX_HELD are held; the rest are
 * answered at once.
 */
const THROTTLE_HOLD_MS = 1000;
const MAX_HELD = 4096;
/** How long a key verified by this process stays exempt from the address throttle. */
const KNOWN_GOOD_MS = 3_600_000;
/** Longest a key's creation waits for its own notification to come back (PostgreSQL only). */
const ANNOUNCE_WAIT_MS = 2000;

interface RefusedKey {
  tenantId: string;
  keyId: string;
}

const MESSAGES: Record<string, string> = {
  missing_credentials: 'Authorization: Bearer <api key> is required.',
  malformed_credentials: 'The bearer token is not a Rampart API key.',
  operator_token_on_tenant_route:
    'The operator token is valid only on /admin/v1 routes; use a tenant API key.',
  unknown_key: 'Invalid API key.',
  revoked_key: 'This API key has been revoked.',
  expired_key: 'This API key has expired.',
  invalid_operator_token: 'A valid operator token is required.',
  unknown_session: 'Invalid session; sign in again.',
  revoked_session: 'This session has ended; sign in again.',
  expired_session: 'This session has expired; sign in again.',
  malformed_token: 'The bearer token is not a well-formed JWT.',
  unknown_issuer: 'No tenant trusts the issuer of this token.',
  wrong_audience: 'The token is not meant for a trusted audience.',
  expired_token: 'The token has expired.',
  invalid_claims: 'The token’s claims are not acceptable (audience, issuer, nbf, exp or subject).',
  algorithm_not_allowed: 'The token’s signing algorithm is not allowed.',
  unknown_kid: 'The token is signed with a key the issuer does not publish.',
  bad_signature: 'The token’s signature does not verify.',
  invalid_token: 'The token could not be verified.',
  unknown_subject: 'The token’s subject is not a member of the tenant; sign in once first.',
  unknown_scim_token: 'Invalid SCIM token.',
  revoked_token: 'This access token’s grant has been revoked; sign in or refresh again.',
  tenant_disabled: 'This tenant has been disabled by the operator.',
};

/** Says what is wrong with an Authorization header that is not `Bearer <token>`. */
function wrongSchemeMessage(header: string | undefined): string {
  const scheme = /^([A-Za-z][A-Za-z0-9-]{0,30})(?:\s|$)/.exec(header ?? '')?.[1];
  const used = scheme ? `uses the ${scheme} scheme` : 'is not of the form Bearer <api key>';
  return `The Authorization header ${used}; use a Bearer API key (Authorization: Bearer rmp_…).`;
}

function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function principalFromKey(row: VerifiedKeyRow): Principal {
  const role = isRole(row.role) ? row.role : 'viewer';
  return {
    kind: 'api_key',
    tenantId: row.tenant_id,
    tenantSlug: row.tenant_slug,
    userId: row.user_id,
    keyId: row.key_id,
    role,
    permissions: ROLE_PERMISSIONS[role],
    groups: row.groups,
  };
}

/**
 * Verifies credentials into a Principal. The unauthenticated path is built to be cheap (issue
 * #21): a throttled source, a token that cannot be a key, a prefix no key has and a secret
 * refused moments ago are all answered from memory; only the rest reach the database, under a
 * small budget of their own; and refusals are audited in aggregated batches off the request path.
 */
export class AuthService implements Authenticator, KeyAnnouncer {
  readonly cache: KeyCache;
  readonly prefixes = new KeyPrefixSet();
  readonly refused: RecentTokens<{ reason: string; key: RefusedKey | undefined }>;
  readonly throttle: AuthThrottle;
  readonly failureAudit: AuthFailureAudit;
  /** Offboarded tenants: every credential of theirs is refused, cached ones included. */
  readonly disabledTenants = new DisabledTenants();
  readonly #budget: PreAuthBudget;
  readonly #lookups = new Map<string, Promise<VerifiedKeyRow | undefined>>();
  /**
   * Keys this process verified within the hour: exempt from the throttle (though not from the
   * database lookup) once their cache entry has expired, so an attack from a shared address
   * cannot lock out the callers there who hold working keys.
   */
  readonly #knownGood: RecentTokens<true> = new RecentTokens(KNOWN_GOOD_MS, 10_000);
  #held = 0;
  readonly #announcements = new Map<
    string,
    { seen: Promise<void>; resolve: () => void; timer: NodeJS.Timeout }
  >();
  readonly #metrics: AuthMetrics | undefined;
  #rootDigest: Buffer | undefined;
  #unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly deps: AuthDeps) {
    this.cache = new KeyCache(deps.cacheTtlMs);
    this.refused = new RecentTokens(deps.negativeCacheTtlMs ?? 30_000);
    this.throttle = new AuthThrottle(
      deps.throttle ?? { perAddress: 0, perKeyPrefix: 0 },
      deps.redis,
    );
    this.#budget = new PreAuthBudget(deps.preAuthConcurrency ?? 2);
    this.#metrics = deps.metrics
      ? authMetrics(deps.metrics.registry, () => this.throttle.throttledSources())
      : undefined;
    this.failureAudit = new AuthFailureAudit(deps.db, {
      flushIntervalMs: deps.auditFlushMs ?? 2000,
      metrics: this.#metrics,
      onError: (err) =>
        deps.onBackgroundError?.(err, 'appending authentication-failure audit events'),
    });
    this.#rootDigest = deps.rootToken ? digest(deps.rootToken) : undefined;
  }

  /** Subscribes to key events from every instance, loads the prefix set, starts the audit flusher. */
  /**
   * Runs database work done for a caller not yet authenticated (the OAuth endpoints' lookups)
   * under the same small budget as credential verification: 503 when it and its queue are full.
   */
  preAuth<T>(fn: () => Promise<T>): Promise<T> {
    return this.#budget.run(fn);
  }

  async start(): Promise<void> {
    this.#unlisten = await this.deps.db.listen(
      KEY_EVENTS_CHANNEL,
      (payload) => {
        if (this.disabledTenants.apply(payload)) return;
        if (payload.startsWith(KEY_ISSUED_EVENT)) {
          const prefix = payload.slice(KEY_ISSUED_EVENT.length);
          this.prefixes.add(prefix);
          this.#announce(prefix);
        } else if (payload.startsWith(SESSION_EVENT)) {
          this.deps.sessions?.evictSession(payload.slice(SESSION_EVENT.length));
          this.deps.tokens?.evictSession(payload.slice(SESSION_EVENT.length));
        } else if (payload.startsWith(USER_EVENT)) {
          this.deps.sessions?.evictUser(payload.slice(USER_EVENT.length));
          this.deps.tokens?.evictUser(payload.slice(USER_EVENT.length));
        } else if (payload.startsWith(FAMILY_EVENT))
          this.deps.tokens?.evictFamily(payload.slice(FAMILY_EVENT.length));
        else this.cache.evictKey(payload);
      },
      () => {
        this.deps.sessions?.clear();
        this.deps.tokens?.clear();
        // Notifications may have been missed: forget verified keys, and trust no prefix
        // refusal until the set is reloaded.
        this.cache.clear();
        this.prefixes.invalidate();
        void this.#loadPrefixes().catch((err: unknown) =>
          this.deps.onBackgroundError?.(err, 'reloading API key prefixes'),
        );
        void this.disabledTenants
          .reload(this.deps.db)
          .catch((err: unknown) =>
            this.deps.onBackgroundError?.(err, 'reloading the disabled tenants'),
          );
      },
    );
    await this.#loadPrefixes();
    await this.disabledTenants.reload(this.deps.db);
    this.failureAudit.start();
  }

  async stop(): Promise<void> {
    await this.#unlisten?.();
    await this.failureAudit.stop();
  }

  /** KeyAnnouncer: the key service issues a key; this instance knows its prefix at once. */
  issued(prefix: string): void {
    this.prefixes.add(prefix);
    // The embedded database is one process: there is no other instance to wait for.
    if (this.deps.db.kind !== 'postgres' || this.#announcements.has(prefix)) return;
    let resolve: () => void = () => undefined;
    const seen = new Promise<void>((r) => (resolve = r));
    // A key whose transaction rolls back is never announced: forget it after the wait bound.
    const timer = setTimeout(() => this.#announce(prefix), ANNOUNCE_WAIT_MS);
    timer.unref();
    this.#announcements.set(prefix, { seen, resolve, timer });
  }

  /** KeyAnnouncer: after the commit, waits (at most ANNOUNCE_WAIT_MS) for the key's notification. */
  async announced(prefix: string): Promise<void> {
    await this.#announcements.get(prefix)?.seen;
  }

  #announce(prefix: string): void {
    const a = this.#announcements.get(prefix);
    if (!a) return;
    clearTimeout(a.timer);
    this.#announcements.delete(prefix);
    a.resolve();
  }

  get adminEnabled(): boolean {
    return this.#rootDigest !== undefined;
  }

  async tenant(request: FastifyRequest, meta: RequestMeta): Promise<Principal> {
    const principal = await this.#verify(request, meta);
    // After every kind of verification, cached ones included: an offboarded tenant's
    // credentials stop at once (issue #28).
    if (this.disabledTenants.has(principal.tenantId))
      return this.#reject(request, meta, 'tenant_disabled', 'memory');
    return principal;
  }

  async #verify(request: FastifyRequest, meta: RequestMeta): Promise<Principal> {
    // A browser session: only when no Authorization header is sent (an app's bearer wins).
    const sessionToken = this.deps.sessions?.tokenOf(request);
    if (sessionToken !== undefined) return this.#session(request, meta, sessionToken);
    const token = bearer(request);
    // A key this process has verified is answered first, so a throttled address (a shared NAT,
    // a proxy without TRUST_PROXY) never locks out callers that already hold a working key.
    if (token) {
      const cached = this.cache.get(token);
      if (cached) return cached;
    }
    if (token && this.deps.scim?.looksLikeScimToken(token)) {
      await this.#refuseIfThrottled(meta.ip, undefined);
      const scim = this.deps.scim;
      const principal = await this.#budget.run(() => scim.verify(token));
      return principal ?? this.#reject(request, meta, 'unknown_scim_token', 'database');
    }
    const isKey = token !== undefined && looksLikeApiKey(token);
    const keyPrefix = isKey ? apiKeyPrefix(token) : undefined;
    if (!(token && this.#knownGood.get(token))) await this.#refuseIfThrottled(meta.ip, keyPrefix);
    if (token === undefined) return this.#reject(request, meta, 'missing_credentials', 'memory');
    // An identity provider's access token, for a tenant that trusts its issuer.
    if (!isKey && this.deps.jwt?.looksLikeJwt(token)) {
      // A token refused moments ago is refused again from memory, as a key would be.
      const recent = this.refused.get(token);
      if (recent) return this.#reject(request, meta, recent.reason, 'memory');
      const jwt = this.deps.jwt;
      const verdict = await this.#budget.run(() => jwt.verify(token));
      if ('refused' in verdict) {
        this.refused.set(token, { reason: verdict.refused, key: undefined });
        return this.#reject(request, meta, verdict.refused, 'database');
      }
      return verdict.principal;
    }
    // The root-token comparison (a hash) runs only for tokens that are not shaped like API keys.
    if (!isKey)
      return this.#reject(
        request,
        meta,
        this.#isRootToken(token) ? 'operator_token_on_tenant_route' : 'malformed_credentials',
        'memory',
      );
    if (keyPrefix === undefined || !this.prefixes.mayExist(keyPrefix))
      return this.#reject(request, meta, 'unknown_key', 'memory', keyPrefix);
    const refused = this.refused.get(token);
    if (refused)
      return this.#reject(request, meta, refused.reason, 'memory', keyPrefix, refused.key);
    const hash = hashApiKey(this.deps.serverSecret, token);
    const row = await this.#lookup(hash);
    const verdict = !row
      ? 'unknown_key'
      : row.revoked_at
        ? 'revoked_key'
        : row.expires_at && row.expires_at.getTime() <= Date.now()
          ? 'expired_key'
          : undefined;
    if (!row || verdict) {
      const key = row ? { tenantId: row.tenant_id, keyId: row.key_id } : undefined;
      const reason = verdict ?? 'unknown_key';
      this.refused.set(token, { reason, key });
      return this.#reject(request, meta, reason, 'database', keyPrefix, key);
    }
    const principal = principalFromKey(row);
    this.cache.set(token, principal, row.expires_at);
    this.#knownGood.set(token, true);
    return principal;
  }

  /** Verifies a session cookie: the same throttle, refusals and audit as a key. */
  async #session(request: FastifyRequest, meta: RequestMeta, token: string): Promise<Principal> {
    const sessions = this.deps.sessions;
    if (!sessions) throw new Unauthorized();
    if (!sessions.isCached(token)) await this.#refuseIfThrottled(meta.ip, undefined);
    const verdict = await sessions.verify(token);
    if ('refused' in verdict) return this.#reject(request, meta, verdict.refused, 'database');
    sessions.assertSameSite(request, token);
    return verdict.principal;
  }

  /**
   * One database lookup per secret at a time: concurrent first requests with the same new key
   * (a client opening many connections at once) share it, so they take one place in the
   * pre-authentication budget instead of filling its queue and getting 503s.
   */
  #lookup(hash: Buffer): Promise<VerifiedKeyRow | undefined> {
    const id = hash.toString('base64');
    const pending = this.#lookups.get(id);
    if (pending) return pending;
    const lookup = this.#budget
      .run(() => this.deps.db.withOperator((tx) => findKeyByHash(tx, hash)))
      .finally(() => this.#lookups.delete(id));
    this.#lookups.set(id, lookup);
    return lookup;
  }

  async operator(request: FastifyRequest): Promise<OperatorPrincipal> {
    // Without a root token the admin API does not exist, rather than merely refusing.
    if (!this.#rootDigest) throw new NotFound('Route');
    const meta = { requestId: String(request.id), ip: request.ip };
    // Checked before the token, so a throttled source cannot go on guessing the root token.
    await this.#refuseIfThrottled(meta.ip, undefined);
    const token = bearer(request);
    if (!token)
      return this.#reject(
        request,
        meta,
        'missing_credentials',
        'memory',
        undefined,
        undefined,
        'operator',
      );
    if (!this.#isRootToken(token))
      return this.#reject(
        request,
        meta,
        'invalid_operator_token',
        'memory',
        undefined,
        undefined,
        'operator',
      );
    return { kind: 'operator' };
  }

  async denied(
    principal: Principal,
    permission: string,
    request: FastifyRequest,
    meta: RequestMeta,
  ): Promise<void> {
    this.deps.metrics?.authFailures.inc({ reason: 'permission_denied' });
    await this.deps.db.withTenant(principal, (tx) =>
      appendAuditEvent(tx, {
        actor:
          principal.kind === 'api_key'
            ? { type: 'api_key', id: principal.keyId }
            : { type: 'user', id: principal.userId },
        action: 'auth.forbidden',
        target: {
          type: 'route',
          id: `${request.method} ${request.routeOptions.url ?? request.url}`,
        },
        outcome: 'denied',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { permission, role: principal.role },
      }),
    );
  }

  #isRootToken(token: string): boolean {
    return this.#rootDigest !== undefined && timingSafeEqual(digest(token), this.#rootDigest);
  }

  async #loadPrefixes(): Promise<void> {
    await this.prefixes.reload(() => this.deps.db.withOperator((tx) => liveKeyPrefixes(tx)));
  }

  /** 429 from memory, before any database or audit work, for a source over its failure limit. */
  async #refuseIfThrottled(ip: string, keyPrefix: string | undefined): Promise<void> {
    const verdict = this.throttle.retryAfter(ip, keyPrefix);
    if (!verdict) return;
    this.#metrics?.throttled.inc({ scope: verdict.scope });
    this.#metrics?.rejections.inc({ reason: 'throttled', answered_from: 'memory' });
    if (this.#held < MAX_HELD) {
      this.#held++;
      try {
        await sleep(THROTTLE_HOLD_MS);
      } finally {
        this.#held--;
      }
    }
    throw new RateLimited(
      verdict.scope === 'address'
        ? 'Too many failed authentications from this address; retry later.'
        : 'Too many failed authentications with this key prefix; retry later.',
      verdict.seconds,
    );
  }

  /**
   * Refuses: counts the failure toward the throttle, hands it to the aggregated audit (memory
   * only) and throws the 401. A key's own refusals are recorded in its tenant's chain.
   */
  async #reject(
    request: FastifyRequest,
    meta: RequestMeta,
    reason: string,
    answeredFrom: AnsweredFrom,
    keyPrefix?: string,
    key?: RefusedKey,
    surface: 'tenant' | 'operator' = 'tenant',
  ): Promise<never> {
    this.deps.metrics?.authFailures.inc({ reason: surface === 'operator' ? 'operator' : reason });
    this.#metrics?.rejections.inc({ reason, answered_from: answeredFrom });
    this.failureAudit.record({
      tenantId: key?.tenantId ?? SYSTEM_TENANT_ID,
      actor: key ? { type: 'api_key', id: key.keyId } : { type: 'anonymous', id: null },
      reason,
      ip: meta.ip,
      route: `${request.method} ${request.routeOptions.url ?? request.url}`,
      requestId: meta.requestId,
      at: new Date(),
    });
    await this.throttle.recordFailure(meta.ip, keyPrefix);
    // A header in another scheme (Basic, …) is told what to send instead.
    const detail =
      reason === 'malformed_credentials' && bearer(request) === ''
        ? wrongSchemeMessage(request.headers.authorization)
        : (MESSAGES[reason] ?? 'Invalid credentials.');
    throw new Unauthorized(
      detail,
      reason === 'missing_credentials' ? 'unauthorized' : 'invalid_credentials',
    );
  }
}
