import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { SYSTEM_TENANT_ID, appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { NotFound, Unauthorized } from '../platform/http/errors.js';
import type { OperatorPrincipal, Principal, RequestMeta } from '../platform/http/principal.js';
import type { Authenticator } from '../platform/http/route.js';
import type { Metrics } from '../platform/telemetry/metrics.js';
import { KeyCache } from './key-cache.js';
import { hashApiKey, looksLikeApiKey } from './key-secret.js';
import { KEY_EVENTS_CHANNEL, findKeyByHash, type VerifiedKeyRow } from './keys-store.js';
import { ROLE_PERMISSIONS, isRole } from './permissions.js';

export interface AuthDeps {
  db: Database;
  serverSecret: string;
  rootToken: string | undefined;
  cacheTtlMs: number;
  metrics?: Metrics;
}

function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

/** Names the scheme a non-Bearer Authorization header used (Basic, Digest…), without echoing the rest. */
function wrongSchemeMessage(header: string | undefined): string {
  const scheme = /^([A-Za-z][A-Za-z0-9-]{0,30})(?:\s|$)/.exec(header ?? '')?.[1];
  const used = scheme ? `uses the ${scheme} scheme` : 'is not of the form Bearer <api key>';
  return `The Authorization header ${used}; use a Bearer API key (Authorization: Bearer rmp_…).`;
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

/** Verifies credentials into a Principal, caches key verifications, and audits every rejection. */
export class AuthService implements Authenticator {
  readonly cache: KeyCache;
  #rootDigest: Buffer | undefined;
  #unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly deps: AuthDeps) {
    this.cache = new KeyCache(deps.cacheTtlMs);
    this.#rootDigest = deps.rootToken ? digest(deps.rootToken) : undefined;
  }

  /** Subscribes to key revocations and role changes from every instance. */
  async start(): Promise<void> {
    this.#unlisten = await this.deps.db.listen(
      KEY_EVENTS_CHANNEL,
      (keyId) => this.cache.evictKey(keyId),
      () => this.cache.clear(),
    );
  }

  async stop(): Promise<void> {
    await this.#unlisten?.();
  }

  get adminEnabled(): boolean {
    return this.#rootDigest !== undefined;
  }

  async tenant(request: FastifyRequest, meta: RequestMeta): Promise<Principal> {
    const token = bearer(request);
    if (token === undefined)
      return this.#reject(
        meta,
        request,
        'missing_credentials',
        'Authorization: Bearer <api key> is required.',
      );
    if (token === '')
      return this.#reject(
        meta,
        request,
        'malformed_credentials',
        wrongSchemeMessage(request.headers.authorization),
      );
    // The root-token comparison (a hash) runs only for tokens that are not shaped like API keys:
    // the hot path of every tenant request skips it, and either way the token is refused here.
    if (!looksLikeApiKey(token))
      return this.#isRootToken(token)
        ? this.#reject(
            meta,
            request,
            'operator_token_on_tenant_route',
            'The operator token is valid only on /admin/v1 routes; use a tenant API key.',
          )
        : this.#reject(
            meta,
            request,
            'malformed_credentials',
            'The bearer token is not a Rampart API key.',
          );
    // A cache hit skips the HMAC: the hot path of every request after the first with a key.
    const cached = this.cache.get(token);
    if (cached) return cached;
    const hash = hashApiKey(this.deps.serverSecret, token);
    const row = await this.deps.db.withOperator((tx) => findKeyByHash(tx, hash));
    if (!row) return this.#reject(meta, request, 'unknown_key', 'Invalid API key.');
    if (row.revoked_at)
      return this.#reject(meta, request, 'revoked_key', 'This API key has been revoked.', row);
    if (row.expires_at && row.expires_at.getTime() <= Date.now())
      return this.#reject(meta, request, 'expired_key', 'This API key has expired.', row);
    const principal = principalFromKey(row);
    this.cache.set(token, principal, row.expires_at);
    return principal;
  }

  async operator(request: FastifyRequest): Promise<OperatorPrincipal> {
    // Without a root token the admin API does not exist, rather than merely refusing.
    if (!this.#rootDigest) throw new NotFound('Route');
    const token = bearer(request);
    if (!token || !this.#isRootToken(token)) {
      this.deps.metrics?.authFailures.inc({ reason: 'operator' });
      throw new Unauthorized('A valid operator token is required.');
    }
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

  async #reject(
    meta: RequestMeta,
    request: FastifyRequest,
    reason: string,
    message: string,
    key?: VerifiedKeyRow,
  ): Promise<never> {
    this.deps.metrics?.authFailures.inc({ reason });
    const tenantId = key?.tenant_id ?? SYSTEM_TENANT_ID;
    await this.deps.db.withTenant({ tenantId, userId: null, groups: [] }, (tx) =>
      appendAuditEvent(tx, {
        actor: key ? { type: 'api_key', id: key.key_id } : { type: 'anonymous', id: null },
        action: 'auth.unauthenticated',
        target: {
          type: 'route',
          id: `${request.method} ${request.routeOptions.url ?? request.url}`,
        },
        outcome: 'denied',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { reason },
      }),
    );
    throw new Unauthorized(
      message,
      reason === 'missing_credentials' ? 'unauthorized' : 'invalid_credentials',
    );
  }
}
