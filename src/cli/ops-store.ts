// SQL of the operator commands (backup, restore --verify, audit verify --all). Every function
// runs as the owning role (DATABASE_ADMIN_URL): these read across tenants, which the
// application role cannot, and only the operator who holds that URL may.
import type { AdminConnection } from '../platform/db/migrator.js';
import type { Queryable } from '../platform/db/types.js';

/** An audit chain's last event, as a backup saw it. */
export interface ChainHead {
  tenantId: string;
  slug: string | null;
  seq: number;
  hash: string;
}

/** Opens a repeatable-read transaction and exports its snapshot for pg_dump --snapshot. */
export async function beginSnapshot(q: AdminConnection): Promise<string> {
  await q.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const { rows } = await q.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
  const id = rows[0]?.id;
  if (!id) throw new Error('pg_export_snapshot returned nothing');
  return id;
}

export async function endSnapshot(q: AdminConnection): Promise<void> {
  await q.exec('COMMIT');
}

/** Row counts of every table of the public schema. */
export async function tableRowCounts(q: Queryable): Promise<Record<string, number>> {
  const { rows } = await q.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of rows) {
    const quoted = `"${name.replaceAll('"', '""')}"`;
    const r = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM public.${quoted}`);
    counts[name] = Number(r.rows[0]?.n ?? 0);
  }
  return counts;
}

/** Every tenant's audit chain head (including the system tenant's), with the tenant's slug. */
export async function auditChainHeads(q: Queryable): Promise<ChainHead[]> {
  const { rows } = await q.query<{
    tenant_id: string;
    slug: string | null;
    seq: string;
    hash: string;
  }>(
    `SELECT DISTINCT ON (e.tenant_id) e.tenant_id::text AS tenant_id, t.slug, e.seq::text AS seq, e.hash
       FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id
      ORDER BY e.tenant_id, e.seq DESC`,
  );
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    slug: r.slug,
    seq: Number(r.seq),
    hash: r.hash,
  }));
}

/** Whether the database already holds a Rampart schema (a restore target must not). */
export async function hasRampartSchema(q: Queryable): Promise<boolean> {
  const { rows } = await q.query<{ t: string | null }>(
    `SELECT to_regclass('public.rampart_migrations')::text AS t`,
  );
  return Boolean(rows[0]?.t);
}

/** The application role, which the dump's grants name; migration 0001 creates it the same way. */
export async function ensureAppRole(q: AdminConnection): Promise<void> {
  await q.exec(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rampart_app') THEN
        CREATE ROLE rampart_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
}
