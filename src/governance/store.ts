import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import type { Queryable } from '../platform/db/types.js';
import { one } from '../platform/checked.js';
import type { RetentionTarget } from './registry.js';

interface PolicyRecord {
  data_class: string;
  days: number;
  tags: string[];
  updated_by: string;
  updated_at: Date;
}

export async function listPolicies(tx: TenantTx): Promise<PolicyRecord[]> {
  const { rows } = await tx.query<PolicyRecord>(
    `SELECT data_class, days, tags, updated_by, updated_at FROM retention_policies
      WHERE tenant_id = $1 ORDER BY data_class`,
    [tx.tenantId],
  );
  return rows;
}

export async function upsertPolicy(
  tx: TenantTx,
  p: { dataClass: string; days: number; tags: string[]; by: string },
): Promise<void> {
  await tx.query(
    `INSERT INTO retention_policies (tenant_id, data_class, days, tags, updated_by)
     VALUES ($1, $2, $3, $4::text[], $5)
     ON CONFLICT (tenant_id, data_class)
     DO UPDATE SET days = EXCLUDED.days, tags = EXCLUDED.tags, updated_by = EXCLUDED.updated_by,
                   updated_at = now()`,
    [tx.tenantId, p.dataClass, p.days, p.tags, p.by],
  );
}

export async function deletePolicy(tx: TenantTx, dataClass: string): Promise<void> {
  await tx.query('DELETE FROM retention_policies WHERE tenant_id = $1 AND data_class = $2', [
    tx.tenantId,
    dataClass,
  ]);
}

interface HoldRecord {
  id: string;
  scope: 'tenant' | 'user' | 'document';
  subject_id: string | null;
  reason: string;
  created_by: string;
  created_at: Date;
}

export async function listHolds(tx: TenantTx): Promise<HoldRecord[]> {
  const { rows } = await tx.query<HoldRecord>(
    `SELECT id, scope, subject_id, reason, created_by, created_at FROM legal_holds
      WHERE tenant_id = $1 ORDER BY created_at, id`,
    [tx.tenantId],
  );
  return rows;
}

/** Places a hold, or updates the reason of the one already on that subject. */
export async function upsertHold(
  tx: TenantTx,
  h: { scope: string; subjectId: string | null; reason: string; by: string },
): Promise<{ hold: HoldRecord; created: boolean }> {
  const { rows } = await tx.query<HoldRecord & { created: boolean }>(
    `INSERT INTO legal_holds (tenant_id, scope, subject_id, reason, created_by)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, scope, coalesce(subject_id, '00000000-0000-0000-0000-000000000000'))
     DO UPDATE SET reason = EXCLUDED.reason
     RETURNING id, scope, subject_id, reason, created_by, created_at, (xmax = 0) AS created`,
    [tx.tenantId, h.scope, h.subjectId, h.reason, h.by],
  );
  const { created, ...hold } = one(rows);
  return { hold, created };
}

export async function deleteHold(tx: TenantTx, id: string): Promise<HoldRecord | undefined> {
  const { rows } = await tx.query<HoldRecord>(
    `DELETE FROM legal_holds WHERE tenant_id = $1 AND id = $2
     RETURNING id, scope, subject_id, reason, created_by, created_at`,
    [tx.tenantId, id],
  );
  return rows[0];
}

/** Claims a queued (or re-run) sweep: false when it already completed. */
export async function startSweep(tx: TenantTx, sweepId: string): Promise<boolean> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE retention_sweeps SET state = 'running', started_at = coalesce(started_at, now())
      WHERE tenant_id = $1 AND id = $2 AND state <> 'completed' RETURNING id`,
    [tx.tenantId, sweepId],
  );
  return rows.length > 0;
}

export async function finishSweep(
  tx: TenantTx,
  sweepId: string,
  state: 'completed' | 'failed',
  deleted: Record<string, unknown>,
  error: string | null,
): Promise<void> {
  await tx.query(
    `UPDATE retention_sweeps SET state = $3, deleted = $4::jsonb, error = $5, finished_at = now()
      WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, sweepId, state, JSON.stringify(deleted), error],
  );
}

interface SweepRecord {
  id: string;
  period_start: Date;
  state: string;
  deleted: Record<string, unknown>;
  error: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

export async function recentSweeps(tx: TenantTx, limit: number): Promise<SweepRecord[]> {
  const { rows } = await tx.query<SweepRecord>(
    `SELECT id, period_start, state, deleted, error, started_at, finished_at FROM retention_sweeps
      WHERE tenant_id = $1 ORDER BY period_start DESC LIMIT $2`,
    [tx.tenantId, limit],
  );
  return rows;
}

/** One bounded batch of one retention target (rampart_retention_delete, migration 0065). */
export async function deleteExpiredBatch(
  tx: TenantTx,
  target: RetentionTarget,
  o: { before: Date; limit: number; held: string[]; tags: string[] },
): Promise<number> {
  const { rows } = await tx.query<{ n: string }>(
    `SELECT rampart_retention_delete($1, $2, $3, $4, $5::text[], $6::text[], $7, $8::text[], $9, $10::text[]) AS n`,
    [
      target.table,
      target.timeColumn,
      o.before,
      o.limit,
      target.subjectColumns,
      o.held,
      target.tagColumn ?? null,
      o.tags,
      target.kinds?.column ?? null,
      target.kinds?.values ?? null,
    ],
  );
  return Number(one(rows).n);
}

// ---- offboarding (operator paths: identifiers and times only) ----

export interface Offboarding {
  tenantId: string;
  requestedAt: Date;
  purgeAfter: Date;
  purgeStartedAt: Date | null;
  purgedAt: Date | null;
  deleted: Record<string, number>;
}

export async function disableTenant(
  op: OperatorTx,
  tenantId: string,
  graceSeconds: number,
): Promise<{ requested_at: Date; purge_after: Date } | undefined> {
  const { rows } = await op.query<{ requested_at: Date; purge_after: Date }>(
    'SELECT * FROM rampart_disable_tenant($1, $2)',
    [tenantId, graceSeconds],
  );
  return rows[0];
}

export async function restoreTenant(
  op: OperatorTx,
  tenantId: string,
): Promise<'restored' | 'not_disabled' | 'purging'> {
  const { rows } = await op.query<{ r: 'restored' | 'not_disabled' | 'purging' }>(
    'SELECT rampart_restore_tenant($1) AS r',
    [tenantId],
  );
  return one(rows).r;
}

export async function findOffboarding(
  op: Queryable,
  tenantId: string,
): Promise<Offboarding | undefined> {
  const { rows } = await op.query<{
    tenant_ref: string;
    requested_at: Date;
    purge_after: Date;
    purge_started_at: Date | null;
    purged_at: Date | null;
    deleted: Record<string, number>;
  }>(
    `SELECT tenant_ref, requested_at, purge_after, purge_started_at, purged_at, deleted
       FROM tenant_offboardings WHERE tenant_ref = $1`,
    [tenantId],
  );
  const r = rows[0];
  return r
    ? {
        tenantId: r.tenant_ref,
        requestedAt: r.requested_at,
        purgeAfter: r.purge_after,
        purgeStartedAt: r.purge_started_at,
        purgedAt: r.purged_at,
        deleted: r.deleted,
      }
    : undefined;
}

/** A table with a tenant_id column, and the tables it references (foreign keys), from the catalogue. */
export interface TenantTable {
  name: string;
  references: string[];
}

/**
 * Every table of the public schema with a tenant_id column, read from pg_catalog (readable by
 * every role), with its foreign keys to other tables: tables added by any later migration are
 * found without a list.
 */
export async function tenantTables(q: Queryable): Promise<TenantTable[]> {
  const { rows } = await q.query<{ name: string; refs: string[] | null }>(
    `SELECT c.relname AS name,
            ARRAY(SELECT DISTINCT r.relname::text FROM pg_constraint k JOIN pg_class r ON r.oid = k.confrelid
                   WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid) AS refs
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                     AND NOT a.attisdropped)
      ORDER BY c.relname`,
  );
  return rows.map((r) => ({ name: r.name, references: r.refs ?? [] }));
}

export async function purgeTenantRows(
  op: OperatorTx,
  tenantId: string,
  table: string,
  limit: number,
): Promise<number> {
  const { rows } = await op.query<{ n: string }>(
    'SELECT rampart_purge_tenant_rows($1, $2, $3) AS n',
    [tenantId, table, limit],
  );
  return Number(one(rows).n);
}

/** Ends the purge; returns the tables still holding the tenant's rows (empty: done). */
export async function finishTenantPurge(
  op: OperatorTx,
  tenantId: string,
  deleted: Record<string, number>,
): Promise<string[]> {
  const { rows } = await op.query<{ left: string[] }>(
    'SELECT rampart_finish_tenant_purge($1, $2::jsonb) AS left',
    [tenantId, JSON.stringify(deleted)],
  );
  return one(rows).left;
}

/** The scheduler tick: enqueues due sweeps and purges (rampart_schedule_governance). */
export async function scheduleGovernance(
  op: OperatorTx,
  periodSeconds: number,
): Promise<{ kind: string; tenant_ref: string }[]> {
  const { rows } = await op.query<{ kind: string; tenant_ref: string }>(
    'SELECT * FROM rampart_schedule_governance($1)',
    [periodSeconds],
  );
  return rows;
}
