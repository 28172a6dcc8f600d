import type { TenantTx } from '../platform/db/database.js';
import type { QuotaMeter } from '../platform/quota.js';

// The durable record behind each quota meter, and the Postgres quota path. Flow meters read the
// gateway's usage ledger (billable = answered upstream calls: status 200, not a cache hit) and
// the copilot's runs; stock meters read what exists now.

const BILLABLE = `status = 200 AND NOT cache_hit`;

/** The durable used amount of each meter over [from, to) (costUsd in ticks), as BigInt. */
export async function durableUsed(
  tx: TenantTx,
  meters: readonly QuotaMeter[],
  from: Date,
  to: Date,
): Promise<Map<QuotaMeter, bigint>> {
  const out = new Map<QuotaMeter, bigint>();
  if (meters.some((m) => m === 'requests' || m === 'tokens' || m === 'costUsd')) {
    const f = await flowUsage(tx, from, to);
    out.set('requests', f.requests);
    out.set('tokens', f.tokens);
    out.set('costUsd', f.costTicks);
  }
  if (meters.includes('agentRuns')) {
    const { rows } = await tx.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM runs WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3`,
      [tx.tenantId, from, to],
    );
    out.set('agentRuns', BigInt(rows[0]?.n ?? '0'));
  }
  if (meters.includes('documents') || meters.includes('storageBytes')) {
    const { rows } = await tx.query<{ documents: string; bytes: string }>(
      `SELECT documents::text, bytes::text FROM rampart_document_totals()`,
    );
    out.set('documents', BigInt(rows[0]?.documents ?? '0'));
    out.set('storageBytes', BigInt(rows[0]?.bytes ?? '0'));
  }
  if (meters.includes('seats')) out.set('seats', await seatsUsed(tx));
  return out;
}

/** Members plus pending (unexpired, unaccepted) invitations: an invitation holds its seat. */
async function seatsUsed(tx: TenantTx): Promise<bigint> {
  const { rows } = await tx.query<{ n: string }>(
    `SELECT ((SELECT count(*) FROM memberships WHERE tenant_id = $1)
           + (SELECT count(*) FROM invitations
               WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at > now()))::text AS n`,
    [tx.tenantId],
  );
  return BigInt(rows[0]?.n ?? '0');
}

/**
 * Billable gateway usage over [from, to), straight from the ledger: cost summed exactly in
 * numeric and returned as integer ticks of 1e-10 USD (the ledger's own scale), no float.
 */
export async function flowUsage(
  tx: TenantTx,
  from: Date,
  to: Date,
): Promise<{ requests: bigint; tokens: bigint; costTicks: bigint; agentRuns: bigint }> {
  const { rows } = await tx.query<{
    requests: string;
    tokens: string;
    ticks: string;
    runs: string;
  }>(
    `SELECT count(*)::text AS requests,
            coalesce(sum(prompt_tokens::bigint + completion_tokens), 0)::text AS tokens,
            (coalesce(sum(cost_usd), 0) * 10000000000)::numeric(40, 0)::text AS ticks,
            (SELECT count(*) FROM runs r WHERE r.tenant_id = $1 AND r.created_at >= $2
                AND r.created_at < $3)::text AS runs
       FROM usage_events
      WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 AND ${BILLABLE}`,
    [tx.tenantId, from, to],
  );
  const r = rows[0];
  return {
    requests: BigInt(r?.requests ?? '0'),
    tokens: BigInt(r?.tokens ?? '0'),
    costTicks: BigInt(r?.ticks ?? '0'),
    agentRuns: BigInt(r?.runs ?? '0'),
  };
}

/** Stock meters as they are now (invoice lines for documents, storage and seats). */
export async function stockNow(tx: TenantTx): Promise<Map<QuotaMeter, bigint>> {
  return durableUsed(tx, ['documents', 'storageBytes', 'seats'], new Date(0), new Date(0));
}

/**
 * The Postgres quota path (PostgreSQL without Redis): creates the period's counter from the
 * durable amount if missing, then reserves `cost` with a conditional UPDATE under the row lock,
 * so concurrent reservations from any replica serialise and each re-checks against committed
 * values. Returns the new used + reserved, or undefined when the quota refuses.
 */
export async function reserveCounter(
  tx: TenantTx,
  meter: QuotaMeter,
  periodDay: string,
  seed: bigint,
  cost: number,
  quota: number,
): Promise<bigint | undefined> {
  await tx.query(
    `INSERT INTO quota_counters (tenant_id, meter, period_start, used) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [tx.tenantId, meter, periodDay, seed.toString()],
  );
  const { rows } = await tx.query<{ held: string }>(
    `UPDATE quota_counters SET reserved = reserved + $4
      WHERE tenant_id = $1 AND meter = $2 AND period_start = $3 AND used + reserved + $4 <= $5
      RETURNING (used + reserved)::text AS held`,
    [tx.tenantId, meter, periodDay, cost, quota],
  );
  return rows[0] ? BigInt(rows[0].held) : undefined;
}

/** Whether the period's counter exists (else it must be seeded from the durable record). */
export async function counterExists(
  tx: TenantTx,
  meter: QuotaMeter,
  periodDay: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    `SELECT 1 FROM quota_counters WHERE tenant_id = $1 AND meter = $2 AND period_start = $3`,
    [tx.tenantId, meter, periodDay],
  );
  return rows.length > 0;
}

/** Turns a Postgres reservation into use; returns the used amount after it. */
export async function settleCounter(
  tx: TenantTx,
  meter: QuotaMeter,
  periodDay: string,
  reserved: number,
  actual: number,
): Promise<bigint | undefined> {
  const { rows } = await tx.query<{ held: string }>(
    `UPDATE quota_counters SET reserved = greatest(reserved - $4, 0), used = used + $5
      WHERE tenant_id = $1 AND meter = $2 AND period_start = $3
      RETURNING used::text AS held`,
    [tx.tenantId, meter, periodDay, reserved, actual],
  );
  return rows[0] ? BigInt(rows[0].held) : undefined;
}

/** Records a crossed threshold once: true when this call is the one that recorded it. */
export async function claimThreshold(
  tx: TenantTx,
  t: { meter: QuotaMeter; periodDay: string; percent: number; used: number; quota: number },
): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO quota_thresholds (tenant_id, meter, period_start, percent, used, quota)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1`,
    [tx.tenantId, t.meter, t.periodDay, t.percent, Math.round(t.used), Math.round(t.quota)],
  );
  return rows.length > 0;
}
