// SQL of `rampart billing export` and `rampart billing customer`.
import type { TenantTx } from '../platform/db/database.js';

/** A tenant's period usage per feature and model, from the rollups (no key or user ids). */
export interface PeriodLine {
  feature: string;
  alias: string;
  provider: string | null;
  targetModel: string | null;
  requests: string;
  errors: string;
  promptTokens: string;
  completionTokens: string;
  cachedTokens: string;
  /** Exact decimal USD, 10 places. */
  costUsd: string;
}

/** Sums of the tenant's rollups over the days [from, to), per feature and model, in a fixed order. */
export async function periodLines(tx: TenantTx, from: string, to: string): Promise<PeriodLine[]> {
  const { rows } = await tx.query<Record<string, string | null>>(
    `SELECT feature, alias, provider, target_model, sum(requests)::text AS requests,
            sum(errors)::text AS errors, sum(prompt_tokens)::text AS prompt_tokens,
            sum(completion_tokens)::text AS completion_tokens,
            sum(cached_tokens)::text AS cached_tokens,
            sum(cost_usd)::numeric(30, 10)::text AS cost_usd
       FROM usage_rollups
      WHERE tenant_id = $1 AND day >= $2::date AND day < $3::date
      GROUP BY 1, 2, 3, 4
      -- COLLATE "C": byte order, the same on every server and locale.
      ORDER BY feature COLLATE "C", alias COLLATE "C", provider COLLATE "C" NULLS FIRST,
               target_model COLLATE "C" NULLS FIRST`,
    [tx.tenantId, from, to],
  );
  return rows.map((r) => ({
    feature: String(r.feature),
    alias: String(r.alias),
    provider: r.provider ?? null,
    targetModel: r.target_model ?? null,
    requests: String(r.requests ?? '0'),
    errors: String(r.errors ?? '0'),
    promptTokens: String(r.prompt_tokens ?? '0'),
    completionTokens: String(r.completion_tokens ?? '0'),
    cachedTokens: String(r.cached_tokens ?? '0'),
    costUsd: String(r.cost_usd ?? '0.0000000000'),
  }));
}

/** Ledger rows of the tenant created in [from, to) that the rollups do not hold yet. */
export async function pendingInRange(tx: TenantTx, from: string, to: string): Promise<number> {
  const { rows } = await tx.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM usage_events
      WHERE tenant_id = $1
        AND xact >= coalesce((SELECT rolled_to FROM usage_rollup_cursors WHERE tenant_id = $1),
                             '0'::xid8)
        AND created_at >= $2::date AT TIME ZONE 'UTC' AND created_at < $3::date AT TIME ZONE 'UTC'`,
    [tx.tenantId, from, to],
  );
  return Number(rows[0]?.n ?? 0);
}

export async function stripeCustomer(tx: TenantTx): Promise<string | null> {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT stripe_customer_id AS id FROM billing_customers WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  return rows[0]?.id ?? null;
}

export async function putStripeCustomer(tx: TenantTx, customerId: string): Promise<void> {
  await tx.query(
    `INSERT INTO billing_customers (tenant_id, stripe_customer_id) VALUES ($1, $2)
     ON CONFLICT (tenant_id) DO UPDATE SET stripe_customer_id = excluded.stripe_customer_id,
       updated_at = now()`,
    [tx.tenantId, customerId],
  );
}

/** An earlier export of the same period and format. */
export interface ExportRecord {
  digest: string;
  events: number;
  createdAt: Date;
}

export async function earlierExports(
  tx: TenantTx,
  period: string,
  format: string,
): Promise<ExportRecord[]> {
  const { rows } = await tx.query<{ digest: string; events: number; created_at: Date | string }>(
    `SELECT digest, events, created_at FROM billing_exports
      WHERE tenant_id = $1 AND period = $2 AND format = $3 ORDER BY created_at`,
    [tx.tenantId, period, format],
  );
  return rows.map((r) => ({
    digest: r.digest,
    events: r.events,
    createdAt: new Date(r.created_at),
  }));
}

export async function recordExport(
  tx: TenantTx,
  e: { period: string; format: string; events: number; digest: string },
): Promise<void> {
  await tx.query(
    `INSERT INTO billing_exports (tenant_id, period, format, events, digest) VALUES ($1, $2, $3, $4, $5)`,
    [tx.tenantId, e.period, e.format, e.events, e.digest],
  );
}
