// SQL of the KPI API: reads usage_rollups only, never the ledger.
import type { TenantTx } from '../platform/db/database.js';

export type KpiGroupBy = 'day' | 'key' | 'user' | 'model' | 'feature';

/** One bucket of KPIs: its group fields (by groupBy) and the sums. */
export interface KpiSums {
  group: Record<string, string | null>;
  requests: number;
  errors: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  /** Exact decimal text, 10 places (the ledger's unit: 1e-10 USD). */
  costUsd: string;
  unpricedRequests: number;
}

/** The group columns per groupBy; `model` is the alias with the provider and upstream model. */
const GROUPS: Record<KpiGroupBy, readonly [string, string][]> = {
  day: [['day', `day::text`]],
  key: [['key_id', `key_id::text`]],
  user: [['user_id', `user_id::text`]],
  model: [
    ['alias', 'alias'],
    ['provider', 'provider'],
    ['target_model', 'target_model'],
  ],
  feature: [['feature', 'feature']],
};

/** Sums of the tenant's rollups over the UTC days [from, to), grouped as asked. */
export async function kpisFromRollups(
  tx: TenantTx,
  groupBy: KpiGroupBy,
  from: string,
  to: string,
): Promise<KpiSums[]> {
  const cols = GROUPS[groupBy];
  const select = cols.map(([name, expr]) => `${expr} AS ${name}`).join(', ');
  const by = cols.map((_, i) => String(i + 1)).join(', ');
  const { rows } = await tx.query<Record<string, string | null>>(
    `SELECT ${select}, sum(requests)::text AS requests, sum(errors)::text AS errors,
            sum(cache_hits)::text AS cache_hits, sum(prompt_tokens)::text AS prompt_tokens,
            sum(completion_tokens)::text AS completion_tokens,
            sum(cached_tokens)::text AS cached_tokens,
            sum(cost_usd)::numeric(30, 10)::text AS cost_usd,
            sum(unpriced_requests)::text AS unpriced_requests
       FROM usage_rollups
      WHERE tenant_id = $1 AND day >= $2::date AND day < $3::date
      GROUP BY ${by} ORDER BY ${by}`,
    [tx.tenantId, from, to],
  );
  const n = (v: string | null | undefined): number => Number(v ?? 0);
  return rows.map((r) => ({
    group: Object.fromEntries(cols.map(([name]) => [name, r[name] ?? null])),
    requests: n(r.requests),
    errors: n(r.errors),
    cacheHits: n(r.cache_hits),
    promptTokens: n(r.prompt_tokens),
    completionTokens: n(r.completion_tokens),
    cachedTokens: n(r.cached_tokens),
    costUsd: r.cost_usd ?? '0.0000000000',
    unpricedRequests: n(r.unpriced_requests),
  }));
}

/** When the tenant's rollups were last brought up to date (null: never). */
export async function rolledUpAt(tx: TenantTx): Promise<Date | null> {
  const { rows } = await tx.query<{ at: Date | string }>(
    `SELECT updated_at AS at FROM usage_rollup_cursors WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  const at = rows[0]?.at;
  return at === undefined ? null : new Date(at);
}
