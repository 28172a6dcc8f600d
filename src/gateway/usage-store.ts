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
        status, stream, cache_hit, request_id)
     VALUES ($1, $2, $3, $4, $5, $7, $6::text, $8::int, $9::int, $10::int,
        (SELECT (($8::int - $10::int) * i + $10::int * c + $9::int * o) / 1000000 FROM price),
        $11, $12, $13, $14, $15, $16)`,
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
    ],
  );
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
