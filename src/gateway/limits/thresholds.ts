import type { TenantTx } from '../../platform/db/database.js';
import { recordWebhookEvent } from '../../webhooks/index.js';
import type { BudgetScope } from './budgets.js';
import { claimCrossedThresholds } from './threshold-store.js';

/** The percentages of a budget whose crossing is announced (budget.threshold). */
export const BUDGET_THRESHOLDS = [50, 80, 100] as const;

/**
 * Announces, in the transaction that settles spend, each budget threshold the settled spend has
 * newly reached: a `budget.threshold` webhook event, written to the outbox with the spend, once
 * per scope, period and threshold (docs/billing.md, "budget.threshold").
 */
export async function announceBudgetThresholds(
  tx: TenantTx,
  scopes: readonly BudgetScope[],
): Promise<void> {
  for (const s of scopes) {
    for (const c of await claimCrossedThresholds(tx, s, BUDGET_THRESHOLDS))
      await recordWebhookEvent(tx, 'budget.threshold', {
        scope: s.scope,
        ...(s.scope === 'key' ? { keyId: s.scopeId } : {}),
        period: s.period,
        periodStart: s.periodStart,
        threshold: c.threshold,
        budgetUsd: s.budgetUsd,
        spentUsd: c.spentUsd,
      });
  }
}
