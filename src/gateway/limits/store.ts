import type { TenantTx } from '../../platform/db/database.js';
import type { Limits } from '../../platform/http/limits-schema.js';
import { ticksToDecimal, type BudgetScope } from './budgets.js';

export async function putTenantLimits(tx: TenantTx, limits: Limits): Promise<void> {
  await tx.query(
    `INSERT INTO tenant_limits (tenant_id, limits) VALUES ($1, $2::jsonb)
     ON CONFLICT (tenant_id) DO UPDATE SET limits = excluded.limits, updated_at = now()`,
    [tx.tenantId, JSON.stringify(limits)],
  );
}

export async function getTenantLimits(tx: TenantTx): Promise<Limits> {
  const { rows } = await tx.query<{ limits: Limits }>(
    `SELECT limits FROM tenant_limits WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  return rows[0]?.limits ?? {};
}

/**
 * The Postgres budget path (no Redis, or Redis down and fail-open). Reserves `cost` in every
 * scope or in none: first any reservation older than `reclaimAgeMs` (its replica died before
 * settling) is deleted and its amount given back, then the conditional UPDATE runs under the
 * row lock, so concurrent reservations from any replica serialise on the row and each
 * re-checks spent + reserved + cost <= budget against committed values. Each reservation is a
 * row of budget_reservations until it is settled or reclaimed.
 */
export async function reserveBudgets(
  tx: TenantTx,
  scopes: readonly BudgetScope[],
  cost: string,
  reservationId: string,
  reclaimAgeMs: number,
): Promise<BudgetScope | undefined> {
  for (const s of scopes) {
    const at = [tx.tenantId, s.scope, s.scopeId, s.periodStart];
    await tx.query(
      `INSERT INTO budget_spend (tenant_id, scope, scope_id, period_start) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING`,
      at,
    );
    // The DELETE is the claim: a late settle of a reclaimed row finds nothing to give back.
    await tx.query(
      `WITH gone AS (
         DELETE FROM budget_reservations
          WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period_start = $4
            AND reserved_at < now() - make_interval(secs => $5::double precision / 1000)
         RETURNING amount_usd)
       UPDATE budget_spend SET reserved_usd = greatest(reserved_usd - (SELECT sum(amount_usd) FROM gone), 0)
        WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period_start = $4
          AND EXISTS (SELECT 1 FROM gone)`,
      [...at, reclaimAgeMs],
    );
    const r = await tx.query(
      `UPDATE budget_spend SET reserved_usd = reserved_usd + $5
        WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period_start = $4
          AND spent_usd + reserved_usd + $5 <= $6`,
      [...at, cost, s.budgetUsd],
    );
    if ((r.rowCount ?? 0) === 0) return s;
    await tx.query(
      `INSERT INTO budget_reservations (id, tenant_id, scope, scope_id, period_start, amount_usd)
       VALUES ($5, $1, $2, $3, $4, $6)`,
      [...at, reservationId, cost],
    );
  }
  return undefined;
}

/**
 * Settles a Postgres-path reservation: the actual cost is added to spent in any case; the
 * reservation is given back only if its row was still there (not reclaimed meanwhile).
 */
export async function settleBudgets(
  tx: TenantTx,
  scopes: readonly BudgetScope[],
  reservationId: string,
  actual: string,
): Promise<void> {
  for (const s of scopes) {
    await tx.query(
      `WITH mine AS (
         DELETE FROM budget_reservations
          WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period_start = $4 AND id = $5
         RETURNING amount_usd)
       UPDATE budget_spend
          SET reserved_usd = greatest(reserved_usd - coalesce((SELECT sum(amount_usd) FROM mine), 0), 0),
              spent_usd = spent_usd + $6
        WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period_start = $4`,
      [tx.tenantId, s.scope, s.scopeId, s.periodStart, reservationId, actual],
    );
  }
}

/** The durable spent amount of each scope (0 where no row exists yet), in ticks. */
export async function durableSpentTicks(
  tx: TenantTx,
  scopes: readonly BudgetScope[],
): Promise<number[]> {
  const { rows } = await tx.query<{
    scope: string;
    scope_id: string;
    period_start: string;
    ticks: string;
  }>(
    `SELECT scope, scope_id, to_char(period_start, 'YYYY-MM-DD') AS period_start,
            (spent_usd * 10000000000)::bigint::text AS ticks
       FROM budget_spend WHERE tenant_id = $1 AND scope_id = ANY($2::uuid[])`,
    [tx.tenantId, scopes.map((s) => s.scopeId)],
  );
  return scopes.map((s) => {
    const row = rows.find(
      (r) => r.scope === s.scope && r.scope_id === s.scopeId && r.period_start === s.periodStart,
    );
    return row ? Number(row.ticks) : 0;
  });
}

/** Adds settled spend (ticks) to budget_spend: the batch writer's one statement per scope. */
export async function addSpentTicks(
  tx: TenantTx,
  items: readonly { scope: BudgetScope; ticks: number }[],
): Promise<void> {
  for (const { scope: s, ticks } of items)
    await tx.query(
      `INSERT INTO budget_spend (tenant_id, scope, scope_id, period_start, spent_usd)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, scope, scope_id, period_start)
       DO UPDATE SET spent_usd = budget_spend.spent_usd + excluded.spent_usd`,
      [tx.tenantId, s.scope, s.scopeId, s.periodStart, ticksToDecimal(ticks)],
    );
}
