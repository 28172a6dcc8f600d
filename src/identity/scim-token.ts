import { createHmac, randomBytes } from 'node:crypto';
import { auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import {
  deleteScimToken,
  findScimToken,
  getScimToken,
  upsertScimToken,
  type ScimTokenRow,
} from './scim-store.js';

const SCIM_TOKEN = /^rmscim_[A-Za-z0-9_-]{43}$/;

/** What a SCIM token authenticates as: only the scim:provision permission, in its tenant. */
export function scimPrincipal(row: { tenant_id: string; tenant_slug: string }): Principal {
  return {
    kind: 'service',
    tenantId: row.tenant_id,
    tenantSlug: row.tenant_slug,
    userId: null,
    keyId: null,
    role: 'scim',
    permissions: new Set(['scim:provision']),
    groups: [],
  };
}

export interface ScimTokenView {
  prefix: string;
  createdBy: string;
  createdAt: string;
}

function toView(r: ScimTokenRow): ScimTokenView {
  return { prefix: r.prefix, createdBy: r.created_by, createdAt: r.created_at.toISOString() };
}

/**
 * The per-tenant SCIM bearer token: created or rotated by an owner (shown once, stored as a
 * keyed hash), verified into a principal that may only provision. Verified tokens are cached per
 * process for the key cache's TTL; rotating drops this instance's copy at once.
 */
export class ScimTokens {
  readonly #cache = new Map<string, { principal: Principal | undefined; until: number }>();

  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    private readonly ttlMs: number,
    private readonly baseUrl: string,
  ) {}

  looksLikeScimToken(token: string): boolean {
    return SCIM_TOKEN.test(token);
  }

  #hash(token: string): Buffer {
    return createHmac('sha256', this.serverSecret).update(`scim:${token}`).digest();
  }

  async verify(token: string): Promise<Principal | undefined> {
    const cached = this.#cache.get(token);
    if (cached && cached.until > Date.now()) return cached.principal;
    const row = await this.db.withOperator((tx) => findScimToken(tx, this.#hash(token)));
    const principal = row ? scimPrincipal(row) : undefined;
    if (this.ttlMs > 0) {
      if (this.#cache.size > 1000) this.#cache.clear();
      this.#cache.set(token, { principal, until: Date.now() + this.ttlMs });
    }
    return principal;
  }

  /** Creates the tenant's SCIM token, replacing any previous one; the secret is in this answer only. */
  async rotate(
    principal: Principal,
    meta: RequestMeta,
  ): Promise<ScimTokenView & { token: string; baseUrl: string }> {
    const token = `rmscim_${randomBytes(32).toString('base64url')}`;
    const row = await this.db.withTenant(principal, async (tx) => {
      const r = await upsertScimToken(tx, {
        hash: this.#hash(token),
        prefix: token.slice(0, 15),
        createdBy: actorOf(principal).id ?? principal.kind,
      });
      await auditSuccess(tx, principal, meta, 'scim_token.created', {
        type: 'scim_token',
        id: r.id,
      });
      return r;
    });
    this.#cache.clear();
    return { ...toView(row), token, baseUrl: `${this.baseUrl}/scim/v2` };
  }

  async get(principal: Principal): Promise<ScimTokenView> {
    const row = await this.db.withTenant(principal, (tx) => getScimToken(tx));
    if (!row) throw new NotFound('SCIM token');
    return toView(row);
  }

  async remove(principal: Principal, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(principal, async (tx) => {
      const row = await getScimToken(tx);
      if (!row || !(await deleteScimToken(tx))) throw new NotFound('SCIM token');
      await auditSuccess(tx, principal, meta, 'scim_token.deleted', {
        type: 'scim_token',
        id: row.id,
      });
    });
    this.#cache.clear();
  }
}
