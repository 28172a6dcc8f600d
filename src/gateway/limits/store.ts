import type { TenantTx } from '../../platform/db/database.js';
import type { Limits } from './schema.js';

export interface KeyLimits {
  models: string[] | null;
  limits: Limits;
}

/** The key's allow-list and limits plus the tenant-wide limits, in one round trip. */
export async function loadLimits(
  tx: TenantTx,
  keyId: string | null,
): Promise<{ key: KeyLimits; tenant: Limits }> {
  const { rows } = await tx.query<{
    models: string[] | null;
    key: Limits | null;
    tenant: Limits | null;
  }>(
    `SELECT (SELECT models FROM key_limits WHERE tenant_id = $1 AND key_id = $2) AS models,
            (SELECT limits FROM key_limits WHERE tenant_id = $1 AND key_id = $2) AS key,
            (SELECT limits FROM tenant_limits WHERE tenant_id = $1) AS tenant`,
    [tx.tenantId, keyId],
  );
  const r = rows[0];
  return { key: { models: r?.models ?? null, limits: r?.key ?? {} }, tenant: r?.tenant ?? {} };
}

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

export interface BudgetScope {
  scope: 'tenant' | 'key';
  scopeId: string;
  periodStart: string; // YYYY-MM-DD (UTC)
  budgetUsd: number;
}

/**
 * Reserves `cost` in every scope or in none: the conditional UPDATE runs under the row lock, so
 * concurrent reservations (from any replica sharing this Postgres) serialise on the row and each
 * re-checks spent + reserved + cost <= budget against the committed values.
 */
export async function reserveBudgets(
  tx: TenantTx,
  scopes: BudgetScope[],
  cost: number,
): Promise<BudgetScope | undefined> {
  for (const s of scopes) {
    await tx.query(
      `INSERT INTO budget_spend (tenant_id, scope, scope_id, period_start) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING`,
      [tx.tenantId, s.scope, s.scopeId, s.periodStart],
    );
    const r = await tx.query(
      `UPDATE budget_spend SET reserved_usd = reserved_usd + $5
        WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period_start = $4
          AND spent_usd + reserved_usd + $5 <= $6`,
      [tx.tenantId, s.scope, s.scopeId, s.periodStart, cost, s.budgetUsd],
    );
    if ((r.rowCount ?? 0) === 0) return s;
  }
  return undefined;
}

/** Moves min(actual, reserved) from reserved to spent and releases the rest. */
export async function settleBudgets(
  tx: TenantTx,
  scopes: BudgetScope[],
  reserved: number,
  actual: number,
): Promise<void> {
  const spent = Math.min(Math.max(actual, 0), reserved);
  for (const s of scopes) {
    await tx.query(
      `UPDATE budget_spend SET reserved_usd = greatest(reserved_usd - $5, 0), spent_usd = spent_usd + $6
        WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 AND period_start = $4`,
      [tx.tenantId, s.scope, s.scopeId, s.periodStart, reserved, spent],
    );
  }
}
