import { appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { UNIQUE_VIOLATION, pgErrorCode } from '../platform/db/sql.js';
import { Conflict } from '../platform/http/errors.js';
import type { RequestMeta } from '../platform/http/principal.js';
import type { ApiKeyService, ApiKeyView } from './keys-service.js';
import { one } from '../platform/checked.js';

export interface TenantView {
  id: string;
  slug: string;
  name: string;
}

/** The operator's tenant lifecycle: the explicit, audited cross-tenant path. */
export class TenantService {
  constructor(
    private readonly db: Database,
    private readonly keys: ApiKeyService,
  ) {}

  /** Creates a tenant and its first owner key in one transaction; the event lands in the new tenant's chain. */
  async create(
    input: { slug: string; name: string },
    meta: RequestMeta,
  ): Promise<{ tenant: TenantView; apiKey: string; key: ApiKeyView }> {
    try {
      const created = await this.db.withOperator(async (op) => {
        const { rows } = await op.query<{ id: string }>(
          'SELECT rampart_create_tenant($1, $2) AS id',
          [input.slug, input.name],
        );
        const id = one(rows).id;
        const tx = await op.enterTenant({ tenantId: id, userId: null, groups: [] });
        const { key, secret } = await this.keys.issueInTx(tx, {
          name: 'owner (bootstrap)',
          role: 'owner',
          userId: null,
          createdBy: 'operator',
        });
        const actor = { type: 'operator' as const, id: null };
        await appendAuditEvent(tx, {
          actor,
          action: 'tenant.created',
          target: { type: 'tenant', id },
          outcome: 'success',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { slug: input.slug, name: input.name },
        });
        await appendAuditEvent(tx, {
          actor,
          action: 'api_key.created',
          target: { type: 'api_key', id: key.id },
          outcome: 'success',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { name: key.name, role: key.role, prefix: key.prefix },
        });
        return { tenant: { id, slug: input.slug, name: input.name }, apiKey: secret, key };
      });
      await this.keys.announced(created.key.prefix);
      return created;
    } catch (err) {
      if (pgErrorCode(err) === UNIQUE_VIOLATION)
        throw new Conflict(`A tenant with slug '${input.slug}' already exists.`, 'tenant_exists');
      throw err;
    }
  }

  /** Looks a tenant up by slug (operator tooling: audit verify, exports). */
  async findBySlug(slug: string): Promise<TenantView | undefined> {
    const { rows } = await this.db.withOperator((op) =>
      op.query<TenantView>('SELECT id, slug, name FROM rampart_find_tenant($1)', [slug]),
    );
    return rows[0];
  }
}
