import type { TenantTx } from '../../platform/db/database.js';
import type { ModelPrice } from '../config/prices.js';
import { arrayLiteral } from '../../platform/db/sql.js';

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
  /** PII values masked in the prompt before it was sent (decision 020). */
  redactions?: number | undefined;
}

/** A usage event as buffered for a batch: when it happened and the built-in price then. */
export interface BufferedUsage {
  event: UsageEvent;
  at: Date;
  builtin: ModelPrice | undefined;
}

type Cell = string | number | boolean | null;

/** The columns of a batch, in the order of the unnest() in insertUsageColumns: name, type, value. */
const BATCH_COLUMNS: readonly (readonly [string, string, (b: BufferedUsage) => Cell])[] = [
  ['key_id', 'uuid', (b) => b.event.keyId],
  ['user_id', 'uuid', (b) => b.event.userId],
  ['endpoint', 'text', (b) => b.event.endpoint],
  ['alias', 'text', (b) => b.event.alias],
  ['provider', 'text', (b) => b.event.provider],
  ['target_model', 'text', (b) => b.event.targetModel],
  ['pt', 'int', (b) => b.event.promptTokens],
  ['ct', 'int', (b) => b.event.completionTokens],
  ['cached', 'int', (b) => Math.min(b.event.cachedTokens, b.event.promptTokens)],
  ['latency', 'int', (b) => Math.max(0, Math.round(b.event.latencyMs))],
  [
    'up',
    'int',
    ({ event: e }) =>
      e.upstreamLatencyMs === null ? null : Math.max(0, Math.round(e.upstreamLatencyMs)),
  ],
  ['status', 'int', (b) => b.event.status],
  ['stream', 'boolean', (b) => b.event.stream],
  ['cache_hit', 'boolean', (b) => b.event.cacheHit],
  ['estimated', 'boolean', (b) => b.event.estimated === true],
  ['redactions', 'int', (b) => b.event.redactions ?? 0],
  ['request_id', 'text', (b) => b.event.requestId],
  ['at', 'timestamptz', (b) => b.at.toISOString()],
  ['bi', 'numeric', (b) => (b.builtin ? String(b.builtin.input) : null)],
  ['bo', 'numeric', (b) => (b.builtin ? String(b.builtin.output) : null)],
  ['bc', 'numeric', (b) => (b.builtin ? String(b.builtin.cachedInput) : null)],
];

const unnestArgs = BATCH_COLUMNS.map(([, type], i) => `$${i + 2}::${type}[]`).join(', ');
const unnestNames = BATCH_COLUMNS.map(([name]) => name).join(', ');

const INSERT_BATCH = `INSERT INTO usage_events (tenant_id, key_id, user_id, endpoint, alias, provider,
      target_model, prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms,
      upstream_latency_ms, status, stream, cache_hit, request_id, created_at, usage_estimated,
      redactions)
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
      v.latency, v.up, v.status, v.stream, v.cache_hit, v.request_id, v.at, v.estimated,
      v.redactions
     FROM unnest(${unnestArgs}) AS v(${unnestNames})
     LEFT JOIN model_prices p ON p.tenant_id = $1 AND p.model = v.target_model`;

/** Array cells built in one turn of the event loop before the next column waits for another. */
const CELLS_PER_TURN = 1_000;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A batch of one tenant's usage rows as one array literal per column, in the order
 * insertUsageColumns expects. Built a few columns per turn of the event loop (about a
 * millisecond of work for 200 rows in one go would stall every request in flight), and before
 * the transaction opens, so the connection is held only for the statement.
 */
export async function usageColumns(batch: readonly BufferedUsage[]): Promise<string[]> {
  const columns: string[] = [];
  let cells = 0;
  for (const [, , value] of BATCH_COLUMNS) {
    if (cells >= CELLS_PER_TURN) {
      await nextTurn();
      cells = 0;
    }
    columns.push(arrayLiteral(batch.map(value)));
    cells += batch.length;
  }
  return columns;
}

/**
 * Inserts a batch of one tenant's usage rows (from usageColumns) in one statement, sent as one
 * array per column (array literals that unnest() reads back as rows: half the server CPU per
 * row of a jsonb_to_recordset of the same batch, measured with pgbench on 200-row batches).
 * The cost is computed in SQL with numeric arithmetic, per row: the tenant's override for the
 * target model if there is one, else the built-in price, else NULL (unpriced).
 */
export async function insertUsageColumns(tx: TenantTx, columns: readonly string[]): Promise<void> {
  await tx.query(INSERT_BATCH, [tx.tenantId, ...columns]);
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
