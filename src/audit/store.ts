import type { Queryable } from '../platform/db/types.js';
import type { TenantTx } from '../platform/db/database.js';
import { CANONICAL_TIME_SQL } from './chain.js';
import { one } from '../platform/checked.js';

/** NOTIFY channel an audit append signals on (delivered at commit, so only for committed events). */
export const AUDIT_HEAD_CHANNEL = 'rampart_audit_head';

export interface AuditRow {
  id: string;
  tenant_id: string;
  seq: string;
  occurred_at: Date;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: string;
  ip: string | null;
  request_id: string | null;
  details: unknown;
  prev_hash: string;
  hash: string;
}

/** Serialises writers of one tenant's chain for the rest of the transaction. */
export async function lockChain(tx: TenantTx): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('audit:' || $1, 0))`, [
    tx.tenantId,
  ]);
}

export async function chainHead(tx: TenantTx): Promise<{ seq: number; hash: string } | undefined> {
  const { rows } = await tx.query<{ seq: string; hash: string }>(
    'SELECT seq, hash FROM audit_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
    [tx.tenantId],
  );
  const row = rows[0];
  return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
}

export async function insertEvent(
  tx: TenantTx,
  row: Omit<AuditRow, 'id' | 'seq' | 'details' | 'occurred_at'> & {
    seq: number;
    occurred_at: string;
    details: string;
  },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO audit_events (tenant_id, seq, occurred_at, actor_type, actor_id, action, target_type, target_id,
                               outcome, ip, request_id, details, prev_hash, hash)
     VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14)
     RETURNING id, pg_notify($15, tenant_id::text)`,
    [
      row.tenant_id,
      row.seq,
      row.occurred_at,
      row.actor_type,
      row.actor_id,
      row.action,
      row.target_type,
      row.target_id,
      row.outcome,
      row.ip,
      row.request_id,
      row.details,
      row.prev_hash,
      row.hash,
      // The head publisher hears of the append at commit, in the same round trip as the insert.
      AUDIT_HEAD_CHANNEL,
    ],
  );
  return one(rows).id;
}

export interface AuditFilter {
  from?: Date | undefined;
  to?: Date | undefined;
  actorId?: string | undefined;
  actorType?: string | undefined;
  /** Any of these stored names (a canonical action and the legacy names it replaced). */
  actions?: string[] | undefined;
  /** Return events with seq below this (cursor pagination, newest first). */
  beforeSeq?: number | undefined;
  limit: number;
}

/** Newest first. The tenant filter helps the planner; RLS is what guarantees it. */
export async function listEvents(tx: TenantTx, f: AuditFilter): Promise<AuditRow[]> {
  const params: unknown[] = [tx.tenantId];
  const where = ['tenant_id = $1'];
  const add = (condition: string, value: unknown) => {
    params.push(value);
    where.push(condition.replace('?', `$${params.length}`));
  };
  if (f.from) add('occurred_at >= ?', f.from);
  if (f.to) add('occurred_at < ?', f.to);
  if (f.actorId) add('actor_id = ?', f.actorId);
  if (f.actorType) add('actor_type = ?', f.actorType);
  if (f.actions) add('action = ANY(?)', f.actions);
  if (f.beforeSeq !== undefined) add('seq < ?', String(f.beforeSeq));
  params.push(f.limit);
  const { rows } = await tx.query<AuditRow>(
    `SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}

/** A stored event plus its time rendered at full precision, as the chain hashes it. */
export interface ChainRow extends AuditRow {
  occurred_at_canonical: string;
}

/** One page of the chain in order, for verification. */
export async function chainPage(
  tx: Queryable & { tenantId: string },
  afterSeq: number,
  limit: number,
): Promise<ChainRow[]> {
  const { rows } = await tx.query<ChainRow>(
    `SELECT *, ${CANONICAL_TIME_SQL} AS occurred_at_canonical
       FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [tx.tenantId, afterSeq, limit],
  );
  return rows;
}

/** The newest pruning checkpoint of a tenant's chain (where verification starts), if any. */
export async function latestCheckpoint(
  tx: Queryable & { tenantId: string },
): Promise<{ seq: number; hash: string; sig: string } | undefined> {
  const { rows } = await tx.query<{ seq: string; hash: string; sig: string }>(
    'SELECT seq, hash, sig FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
    [tx.tenantId],
  );
  const row = rows[0];
  return row ? { seq: Number(row.seq), hash: row.hash, sig: row.sig } : undefined;
}

/**
 * Deletes the tenant's events up to and including `c.seq` and records the signed checkpoint, in
 * one statement (rampart_prune_audit, migration 0065: the application role has no DELETE on
 * audit_events). Returns the events deleted.
 */
export async function pruneThrough(
  tx: TenantTx,
  c: { seq: number; hash: string },
  sig: string,
): Promise<number> {
  const { rows } = await tx.query<{ n: number }>('SELECT rampart_prune_audit($1, $2, $3) AS n', [
    c.seq,
    c.hash,
    sig,
  ]);
  return Number(one(rows).n);
}
