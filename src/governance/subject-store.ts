import type { Queryable, TenantContext } from '../platform/db/types.js';

/**
 * The context the export and erasure jobs read a tenant under: every group of the tenant and the
 * permissions whose policies open every document and run, because acting on a person's data
 * everywhere (art. 15, 17, 20) needs all of it. Still one tenant, still under RLS.
 */
export const SUBJECT_JOB_PERMISSIONS: ReadonlySet<string> = new Set([
  'documents:manage',
  'agents:approve',
]);

export async function tenantGroups(tx: Queryable & { tenantId: string }): Promise<string[]> {
  const { rows } = await tx.query<{ name: string }>(
    'SELECT name FROM groups WHERE tenant_id = $1',
    [tx.tenantId],
  );
  return rows.map((r) => r.name);
}

export function subjectJobContext(tenantId: string, groups: readonly string[]): TenantContext {
  return { tenantId, userId: null, keyId: null, groups, permissions: SUBJECT_JOB_PERMISSIONS };
}
