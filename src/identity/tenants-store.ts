import type { OperatorTx } from '../platform/db/database.js';

export interface TenantRow {
  id: string;
  slug: string;
  name: string;
}

/**
 * Creates a tenant through rampart_create_tenant (SECURITY DEFINER: the application role cannot
 * insert tenants directly) and returns its id. A taken slug raises a unique violation.
 */
export async function insertTenant(op: OperatorTx, slug: string, name: string): Promise<string> {
  const { rows } = await op.query<{ id: string }>('SELECT rampart_create_tenant($1, $2) AS id', [
    slug,
    name,
  ]);
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('rampart_create_tenant returned no row');
  return id;
}

/** The tenant with this slug, through rampart_find_tenant (operator tooling). */
export async function findTenantBySlug(
  op: OperatorTx,
  slug: string,
): Promise<TenantRow | undefined> {
  const { rows } = await op.query<TenantRow>('SELECT id, slug, name FROM rampart_find_tenant($1)', [
    slug,
  ]);
  return rows[0];
}
