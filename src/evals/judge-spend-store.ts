import type { TenantTx } from '../platform/db/database.js';

/** What the tenant's sampled judging has cost today (UTC), in USD. */
export async function judgeSpendToday(tx: TenantTx): Promise<number> {
  const { rows } = await tx.query<{ cost_usd: string }>(
    `SELECT cost_usd FROM eval_judge_spend
      WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date`,
    [tx.tenantId],
  );
  return Number(rows[0]?.cost_usd ?? 0);
}

/** Adds one judge call's cost to today's spend; answers the new total. */
export async function addJudgeSpend(tx: TenantTx, costUsd: number): Promise<number> {
  const { rows } = await tx.query<{ cost_usd: string }>(
    `INSERT INTO eval_judge_spend (tenant_id, day, cost_usd, judged)
     VALUES ($1, (now() AT TIME ZONE 'UTC')::date, $2, 1)
     ON CONFLICT (tenant_id, day) DO UPDATE
       SET cost_usd = eval_judge_spend.cost_usd + EXCLUDED.cost_usd,
           judged = eval_judge_spend.judged + 1, updated_at = now()
     RETURNING cost_usd`,
    [tx.tenantId, costUsd],
  );
  return Number(rows[0]?.cost_usd ?? 0);
}
