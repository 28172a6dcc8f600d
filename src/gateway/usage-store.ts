import type { TenantTx } from '../platform/db/database.js';
import type { ModelPrice } from './prices.js';

export interface UsageEvent {
  keyId: string | null;
  userId: string | null;
  endpoint: 'chat' | 'embeddings';
  alias: string;
  provider: string | null;
  targetModel: string | null;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  latencyMs: number;
  upstreamLatencyMs: number | null;
  status: number;
  stream: boolean;
  cacheHit: boolean;
  /** Token counts are Rampart's offline estimate: the upstream reported no usage. */
  estimated?: boolean | undefined;
  requestId: string | null;
}

/**
 * Inserts one usage row. The cost is computed in SQL with numeric arithmetic: the tenant's
 * override for the target model if there is one, else the built-in price, else NULL (unpriced).
 */
export async function insertUsageEvent(
  tx: TenantTx,
  e: UsageEvent,
  builtin: ModelPrice | undefined,
): Promise<void> {
  await tx.query(
    `WITH price AS (
       SELECT input_per_mtok AS i, output_per_mtok AS o, cached_input_per_mtok AS c, 0 AS rank
         FROM model_prices WHERE tenant_id = $1 AND model = $6::text
       UNION ALL
       SELECT $17::numeric, $18::numeric, $19::numeric, 1 WHERE $17::numeric IS NOT NULL
       ORDER BY rank LIMIT 1)
     INSERT INTO usage_events (tenant_id, key_id, user_id, endpoint, alias, provider, target_model,
        prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms, upstream_latency_ms,
        status, stream, cache_hit, request_id, usage_estimated)
     VALUES ($1, $2, $3, $4, $5, $7, $6::text, $8::int, $9::int, $10::int,
        CASE WHEN $15::boolean THEN 0
             ELSE (SELECT (($8::int - $10::int) * i + $10::int * c + $9::int * o) / 1000000 FROM price)
        END,
        $11, $12, $13, $14, $15, $16, $20)`,
    [
      tx.tenantId,
      e.keyId,
      e.userId,
      e.endpoint,
      e.alias,
      e.targetModel,
      e.provider,
      e.promptTokens,
      e.completionTokens,
      Math.min(e.cachedTokens, e.promptTokens),
      Math.max(0, Math.round(e.latencyMs)),
      e.upstreamLatencyMs === null ? null : Math.max(0, Math.round(e.upstreamLatencyMs)),
      e.status,
      e.stream,
      e.cacheHit,
      e.requestId,
      builtin ? String(builtin.input) : null,
      builtin ? String(builtin.output) : null,
      builtin ? String(builtin.cachedInput) : null,
      e.estimated === true,
    ],
  );
}

/** A usage event as buffered for a batch: when it happened and the built-in price then. */
export interface BufferedUsage {
  event: UsageEvent;
  at: Date;
  builtin: ModelPrice | undefined;
}

/**
 * Inserts a batch of one tenant's usage rows in one statement. The cost is computed in SQL with
 * numeric arithmetic, per row: the tenant's override for the target model if there is one, else
 * the built-in price, else NULL (unpriced).
 */
export async function insertUsageEvents(tx: TenantTx, batch: BufferedUsage[]): Promise<void> {
  if (batch.length === 0) return;
  const rows = batch.map(({ event: e, at, builtin }) => ({
    key_id: e.keyId,
    user_id: e.userId,
    endpoint: e.endpoint,
    alias: e.alias,
    provider: e.provider,
    target_model: e.targetModel,
    pt: e.promptTokens,
    ct: e.completionTokens,
    cached: Math.min(e.cachedTokens, e.promptTokens),
    latency: Math.max(0, Math.round(e.latencyMs)),
    up: e.upstreamLatencyMs === null ? null : Math.max(0, Math.round(e.upstreamLatencyMs)),
    status: e.status,
    stream: e.stream,
    cache_hit: e.cacheHit,
    estimated: e.estimated === true,
    request_id: e.requestId,
    at: at.toISOString(),
    bi: builtin ? String(builtin.input) : null,
    bo: builtin ? String(builtin.output) : null,
    bc: builtin ? String(builtin.cachedInput) : null,
  }));
  await tx.query(
    `INSERT INTO usage_events (tenant_id, key_id, user_id, endpoint, alias, provider, target_model,
        prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms, upstream_latency_ms,
        status, stream, cache_hit, request_id, created_at, usage_estimated)
     SELECT $1, v.key_id, v.user_id, v.endpoint, v.alias, v.provider, v.target_model,
        v.pt, v.ct, v.cached,
        -- A cache hit made no upstream call: it costs nothing, whatever the model's price.
        CASE WHEN v.cache_hit THEN 0
             WHEN p.model IS NOT NULL
               THEN ((v.pt - v.cached) * p.input_per_mtok + v.cached * p.cached_input_per_mtok
                     + v.ct * p.output_per_mtok) / 1000000
             WHEN v.bi IS NOT NULL
               THEN ((v.pt - v.cached) * v.bi + v.cached * v.bc + v.ct * v.bo) / 1000000
        END,
        v.latency, v.up, v.status, v.stream, v.cache_hit, v.request_id, v.at, v.estimated
       FROM jsonb_to_recordset($2::jsonb) AS v(key_id uuid, user_id uuid, endpoint text,
            alias text, provider text, target_model text, pt int, ct int, cached int,
            latency int, up int, status int, stream boolean, cache_hit boolean,
            estimated boolean, request_id text, at timestamptz, bi numeric, bo numeric,
            bc numeric)
       LEFT JOIN model_prices p ON p.tenant_id = $1 AND p.model = v.target_model`,
    [tx.tenantId, JSON.stringify(rows)],
  );
}

export type UsageGroupBy = 'day' | 'key' | 'model';

export interface UsageSummaryRow {
  group: string | null;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
}

const GROUP_EXPR: Record<UsageGroupBy, string> = {
  day: `to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`,
  key: `key_id::text`,
  model: `coalesce(target_model, alias)`,
};

/** Sums of the tenant's usage over [from, to), grouped by UTC day, API key or model. */
export async function summarizeUsage(
  tx: TenantTx,
  groupBy: UsageGroupBy,
  from: Date,
  to: Date,
): Promise<UsageSummaryRow[]> {
  const g = GROUP_EXPR[groupBy];
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT ${g} AS grp, count(*)::bigint AS requests,
            coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
            coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
            coalesce(sum(cached_tokens), 0)::bigint AS cached_tokens,
            coalesce(sum(cost_usd), 0)::text AS cost_usd
       FROM usage_events
      WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
      GROUP BY 1 ORDER BY 1`,
    [tx.tenantId, from.toISOString(), to.toISOString()],
  );
  return rows.map((r) => ({
    group: r.grp === null ? null : String(r.grp),
    requests: Number(r.requests),
    prompt_tokens: Number(r.prompt_tokens),
    completion_tokens: Number(r.completion_tokens),
    cached_tokens: Number(r.cached_tokens),
    cost_usd: Number(r.cost_usd),
  }));
}

export interface PriceRow {
  model: string;
  input_per_mtok: string | number;
  output_per_mtok: string | number;
  cached_input_per_mtok: string | number;
}

export async function upsertPrice(
  tx: TenantTx,
  model: string,
  p: ModelPrice,
): Promise<{ created: boolean }> {
  const { rows } = await tx.query<{ created: boolean }>(
    `INSERT INTO model_prices (tenant_id, model, input_per_mtok, output_per_mtok, cached_input_per_mtok)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, model) DO UPDATE SET input_per_mtok = EXCLUDED.input_per_mtok,
       output_per_mtok = EXCLUDED.output_per_mtok,
       cached_input_per_mtok = EXCLUDED.cached_input_per_mtok, updated_at = now()
     RETURNING (xmax = 0) AS created`,
    [tx.tenantId, model, String(p.input), String(p.output), String(p.cachedInput)],
  );
  return rows[0] as { created: boolean };
}

export async function listPrices(tx: TenantTx): Promise<PriceRow[]> {
  const { rows } = await tx.query<PriceRow>(
    `SELECT model, input_per_mtok, output_per_mtok, cached_input_per_mtok FROM model_prices
      WHERE tenant_id = $1 ORDER BY model`,
    [tx.tenantId],
  );
  return rows;
}

export async function deletePrice(tx: TenantTx, model: string): Promise<boolean> {
  const r = await tx.query(`DELETE FROM model_prices WHERE tenant_id = $1 AND model = $2`, [
    tx.tenantId,
    model,
  ]);
  return r.rowCount > 0;
}
