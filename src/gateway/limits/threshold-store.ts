import type { TenantTx } from '../../platform/db/database.js';
import type { BudgetScope } from './budgets.js';

/** A budget threshold this transaction is the first to record for its scope and period. */
export interface CrossedThreshold {
  threshold: number;
  spentUsd: string;
}

/**
 * Records the thresholds (percent of the budget) that the scope's settled spend has reached and
 * that no transaction recorded before, and returns them, lowest first. The primary key is the
 * claim: two replicas settling at once both try the INSERT, one waits for the other's commit
 * and then inserts nothing, so each threshold is returned once per scope and period.
 */
export async function claimCrossedThresholds(
  tx: TenantTx,
  s: BudgetScope,
  thresholds: readonly number[],
): Promise<CrossedThreshold[]> {
  const { rows } = await tx.query<{ threshold: number; spent_usd: string }>(
    `INSERT INTO budget_thresholds_crossed
            (tenant_id, scope, scope_id, period_start, threshold, budget_usd, spent_usd)
     SELECT $1, $2, $3, $4, t, $5, b.spent_usd
       FROM budget_spend b, unnest($6::int[]) AS t
      WHERE b.tenant_id = $1 AND b.scope = $2 AND b.scope_id = $3 AND b.period_start = $4
        AND $5::numeric > 0 AND b.spent_usd * 100 >= $5::numeric * t
     ON CONFLICT DO NOTHING
     RETURNING threshold, spent_usd::text AS spent_usd`,
    [tx.tenantId, s.scope, s.scopeId, s.periodStart, s.budgetUsd, [...thresholds]],
  );
  return rows
    .map((r) => ({ threshold: Number(r.threshold), spentUsd: r.spent_usd }))
    .sort((a, b) => a.threshold - b.threshold);
}
