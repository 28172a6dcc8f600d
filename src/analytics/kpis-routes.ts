import { z } from 'zod';
import type { Database } from '../platform/db/database.js';
import { InvalidInput } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import { route, type AnyRoute } from '../platform/http/route.js';
import { kpisFromRollups, rolledUpAt, type KpiGroupBy, type KpiSums } from './kpis-store.js';
import { addDecimals, usdToMicros } from './rollups-money.js';

const DAY_MS = 86_400_000;
const MAX_DAYS = 400;

const Day = z.iso.date();

const KpiQuery = z.object({
  /** First UTC day, inclusive (YYYY-MM-DD); default 30 days before `to`. */
  from: Day.optional(),
  /** UTC day after the last one (exclusive, YYYY-MM-DD); default tomorrow (today included). */
  to: Day.optional(),
  groupBy: z.enum(['day', 'key', 'user', 'model', 'feature']).default('day'),
});

const Sums = {
  requests: z.number(),
  errors: z.number(),
  cache_hits: z.number(),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  cached_tokens: z.number(),
  /** Exact decimal USD, 10 places (the ledger's unit). */
  cost_usd: z.string(),
  /** cost_usd in integer micro-USD, rounded half away from zero. */
  cost_micro_usd: z.number(),
  unpriced_requests: z.number(),
};

const KpiBucket = z.object({
  day: z.string().optional(),
  key_id: z.string().nullable().optional(),
  user_id: z.string().nullable().optional(),
  alias: z.string().optional(),
  provider: z.string().nullable().optional(),
  target_model: z.string().nullable().optional(),
  feature: z.string().optional(),
  ...Sums,
});

const KpiResponse = z.object({
  object: z.literal('list'),
  group_by: z.enum(['day', 'key', 'user', 'model', 'feature']),
  from: z.string(),
  to: z.string(),
  /** When the rollups were last brought up to date (null: never); later traffic is not in them. */
  rolled_up_at: z.string().nullable(),
  data: z.array(KpiBucket),
  totals: z.object(Sums),
});

function sumsOf(r: Omit<KpiSums, 'group'>) {
  return {
    requests: r.requests,
    errors: r.errors,
    cache_hits: r.cacheHits,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    cached_tokens: r.cachedTokens,
    cost_usd: r.costUsd,
    cost_micro_usd: Number(usdToMicros(r.costUsd)),
    unpriced_requests: r.unpricedRequests,
  };
}

/** The day range of a KPI query: [from, to) as YYYY-MM-DD, checked. */
function dayRange(q: { from?: string | undefined; to?: string | undefined }): [string, string] {
  const to = q.to ?? new Date(Date.now() + DAY_MS).toISOString().slice(0, 10);
  const from = q.from ?? new Date(Date.parse(to) - 30 * DAY_MS).toISOString().slice(0, 10);
  const days = (Date.parse(to) - Date.parse(from)) / DAY_MS;
  if (!(days > 0))
    throw new InvalidInput('query.from: must be before query.to', {
      errors: [{ field: 'query.from', message: 'must be before to' }],
    });
  if (days > MAX_DAYS)
    throw new InvalidInput(`query: at most ${MAX_DAYS} days at once`, {
      errors: [{ field: 'query.from', message: `at most ${MAX_DAYS} days before to` }],
    });
  return [from, to];
}

/** The tenant's KPIs over a day range, read from the rollups only (the read model). */
export async function tenantKpis(
  db: Database,
  principal: Pick<Principal, 'tenantId' | 'groups'>,
  groupBy: KpiGroupBy,
  from: string,
  to: string,
): Promise<z.infer<typeof KpiResponse>> {
  const { rows, at } = await db.withTenant(principal, async (tx) => ({
    rows: await kpisFromRollups(tx, groupBy, from, to),
    at: await rolledUpAt(tx),
  }));
  const total = (k: keyof Omit<KpiSums, 'group' | 'costUsd'>): number =>
    rows.reduce((s, r) => s + r[k], 0);
  return {
    object: 'list',
    group_by: groupBy,
    from,
    to,
    rolled_up_at: at ? at.toISOString() : null,
    data: rows.map((r) => ({ ...r.group, ...sumsOf(r) })),
    totals: sumsOf({
      requests: total('requests'),
      errors: total('errors'),
      cacheHits: total('cacheHits'),
      promptTokens: total('promptTokens'),
      completionTokens: total('completionTokens'),
      cachedTokens: total('cachedTokens'),
      costUsd: addDecimals(rows.map((r) => r.costUsd)),
      unpricedRequests: total('unpricedRequests'),
    }),
  };
}

/** GET /v1/analytics/kpis: the tenant's usage KPIs from the daily rollups. */
export function kpiRoutes(db: Database): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/analytics/kpis',
      auth: 'tenant',
      permission: 'usage:read',
      summary:
        'Usage KPIs over the UTC days [from, to) from the daily rollups (the read model): requests, errors, cache hits, tokens and cost, grouped by day, key, user, model or feature.',
      tags: ['analytics'],
      query: KpiQuery,
      response: { 200: KpiResponse },
      handler: ({ principal, query }) => {
        const [from, to] = dayRange(query);
        return tenantKpis(db, principal, query.groupBy, from, to);
      },
    }),
    route({
      method: 'GET',
      url: '/admin/v1/tenants/:id/analytics/kpis',
      auth: 'operator',
      permission: undefined,
      summary:
        "The operator's view of one tenant's usage KPIs (same query and answer as GET /v1/analytics/kpis), read under that tenant's RLS.",
      tags: ['admin'],
      params: z.object({ id: z.uuid() }),
      query: KpiQuery,
      response: { 200: KpiResponse },
      handler: ({ params, query }) => {
        const [from, to] = dayRange(query);
        // The operator's explicit path into one tenant: its rollups only, under its RLS context.
        return tenantKpis(db, { tenantId: params.id, groups: [] }, query.groupBy, from, to);
      },
    }),
  ];
}
