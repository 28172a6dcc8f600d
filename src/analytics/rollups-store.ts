// SQL of the usage rollups (docs/billing.md, "Rollups, KPIs and export"; decision 022): the
// job's exactly-once step over the ledger, and the comparison `rampart billing reconcile` runs.
import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import { one } from '../platform/checked.js';

/** What one rollup step took from the ledger. */
export interface RollupStep {
  /** Ledger rows added to the rollups by this step. */
  rows: number;
  /** The cursor after the step: ledger rows with a smaller transaction id are rolled up. */
  rolledTo: string;
}

// The group of a ledger row in the read model; the same expressions in the step and the check.
const GROUP_COLUMNS = `(created_at AT TIME ZONE 'UTC')::date AS day, key_id, user_id,
  endpoint AS feature, alias, provider, target_model`;
const GROUP_BY = `GROUP BY 1, 2, 3, 4, 5, 6, 7`;
const SUMS = `count(*) AS requests, count(*) FILTER (WHERE status >= 400) AS errors,
  count(*) FILTER (WHERE cache_hit) AS cache_hits,
  coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
  coalesce(sum(completion_tokens), 0) AS completion_tokens,
  coalesce(sum(cached_tokens), 0) AS cached_tokens,
  coalesce(sum(cost_usd), 0)::numeric(30, 10) AS cost_usd,
  count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_requests`;

/**
 * Adds the tenant's not yet rolled-up ledger rows to usage_rollups and moves its cursor, in tx.
 * Exactly once, with any number of workers and crashes: the cursor row is locked first (a second
 * worker waits, then reads the moved cursor); the step takes the rows with transaction ids in
 * [cursor, xmin of the current snapshot), all of whose transactions have ended, so a row that
 * commits later has an id at or above that xmin and is taken by a later step; the sums and the
 * new cursor commit together, or neither does.
 */
export async function rollUpLedger(tx: TenantTx): Promise<RollupStep> {
  await tx.query(
    `INSERT INTO usage_rollup_cursors (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING`,
    [tx.tenantId],
  );
  const cursor = one(
    (
      await tx.query<{ rolled_to: string }>(
        `SELECT rolled_to::text AS rolled_to FROM usage_rollup_cursors
          WHERE tenant_id = $1 FOR UPDATE`,
        [tx.tenantId],
      )
    ).rows,
    'rollup cursor',
  );
  // Taken after the lock: this statement's snapshot sees what the previous holder committed.
  const upto = one(
    (
      await tx.query<{ upto: string }>(
        `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS upto`,
      )
    ).rows,
  ).upto;
  const added = await tx.query<{ n: string }>(
    `WITH batch AS (
       SELECT ${GROUP_COLUMNS}, ${SUMS}
         FROM usage_events
        WHERE tenant_id = $1 AND xact >= $2::xid8 AND xact < $3::xid8
        ${GROUP_BY}
     ), upserted AS (
       INSERT INTO usage_rollups AS r (tenant_id, day, key_id, user_id, feature, alias, provider,
              target_model, requests, errors, cache_hits, prompt_tokens, completion_tokens,
              cached_tokens, cost_usd, unpriced_requests)
       SELECT $1, b.* FROM batch b
       ON CONFLICT ON CONSTRAINT usage_rollups_group DO UPDATE SET
         requests = r.requests + excluded.requests,
         errors = r.errors + excluded.errors,
         cache_hits = r.cache_hits + excluded.cache_hits,
         prompt_tokens = r.prompt_tokens + excluded.prompt_tokens,
         completion_tokens = r.completion_tokens + excluded.completion_tokens,
         cached_tokens = r.cached_tokens + excluded.cached_tokens,
         cost_usd = r.cost_usd + excluded.cost_usd,
         unpriced_requests = r.unpriced_requests + excluded.unpriced_requests,
         updated_at = now()
       RETURNING 1
     )
     -- A data-modifying CTE runs whether or not it is read; reading it orders nothing.
     SELECT (SELECT coalesce(sum(requests), 0) FROM batch)::text AS n,
            (SELECT count(*) FROM upserted) AS groups`,
    [tx.tenantId, cursor.rolled_to, upto],
  );
  const rows = Number(one(added.rows).n);
  await tx.query(
    `UPDATE usage_rollup_cursors SET rolled_to = $2::xid8, rows_rolled = rows_rolled + $3,
            updated_at = now()
      WHERE tenant_id = $1`,
    [tx.tenantId, upto, rows],
  );
  return { rows, rolledTo: upto };
}

/** One group's sums, as the ledger gives them and as the rollups hold them. */
export interface GroupSums {
  day: string;
  keyId: string | null;
  userId: string | null;
  feature: string;
  alias: string;
  provider: string | null;
  targetModel: string | null;
  requests: string;
  errors: string;
  cacheHits: string;
  promptTokens: string;
  completionTokens: string;
  cachedTokens: string;
  costUsd: string;
  unpricedRequests: string;
}

const GROUP_NAMES = `day, key_id, user_id, feature, alias, provider, target_model`;

function toSums(r: Record<string, string | null>): GroupSums {
  const s = (k: string): string => String(r[k] ?? '0');
  return {
    day: s('day'),
    keyId: r.key_id ?? null,
    userId: r.user_id ?? null,
    feature: s('feature'),
    alias: s('alias'),
    provider: r.provider ?? null,
    targetModel: r.target_model ?? null,
    requests: s('requests'),
    errors: s('errors'),
    cacheHits: s('cache_hits'),
    promptTokens: s('prompt_tokens'),
    completionTokens: s('completion_tokens'),
    cachedTokens: s('cached_tokens'),
    // numeric(30, 10) and sum(numeric(20, 10)) print with the same 10 decimals.
    costUsd: s('cost_usd'),
    unpricedRequests: s('unpriced_requests'),
  };
}

/** What reconcile compares for one tenant: both sides over the days [from, to), as text. */
export interface LedgerComparison {
  ledger: GroupSums[];
  rollups: GroupSums[];
  /** Ledger rows in the range the job has not taken yet (not a mismatch: the job lags). */
  pending: number;
}

/**
 * The ledger's rows already rolled up (transaction id below the cursor), summed per group, and
 * the rollups, over the UTC days [from, to) (undefined: all).
 */
export async function compareWithLedger(
  tx: TenantTx,
  from: string | undefined,
  to: string | undefined,
): Promise<LedgerComparison> {
  // A share lock on the cursor: a step in progress finishes first, and none starts until this
  // transaction ends, so the three reads below see one state of the rollups and the cursor.
  await tx.query(
    `INSERT INTO usage_rollup_cursors (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING`,
    [tx.tenantId],
  );
  await tx.query(`SELECT 1 FROM usage_rollup_cursors WHERE tenant_id = $1 FOR SHARE`, [
    tx.tenantId,
  ]);
  const range = `($2::date IS NULL OR day >= $2::date) AND ($3::date IS NULL OR day < $3::date)`;
  const params = [tx.tenantId, from ?? null, to ?? null];
  const cursor = `coalesce((SELECT rolled_to FROM usage_rollup_cursors WHERE tenant_id = $1), '0'::xid8)`;
  const ledger = await tx.query<Record<string, string | null>>(
    `SELECT day::text AS day, key_id::text AS key_id, user_id::text AS user_id, feature, alias,
            provider, target_model, requests::text, errors::text, cache_hits::text,
            prompt_tokens::text, completion_tokens::text, cached_tokens::text, cost_usd::text,
            unpriced_requests::text
       FROM (SELECT ${GROUP_COLUMNS}, ${SUMS}
               FROM usage_events WHERE tenant_id = $1 AND xact < ${cursor}
              ${GROUP_BY}) g
      WHERE ${range} ORDER BY ${GROUP_NAMES}`,
    params,
  );
  const rollups = await tx.query<Record<string, string | null>>(
    `SELECT day::text AS day, key_id::text AS key_id, user_id::text AS user_id, feature, alias,
            provider, target_model, requests::text, errors::text, cache_hits::text,
            prompt_tokens::text, completion_tokens::text, cached_tokens::text,
            cost_usd::numeric(30, 10)::text AS cost_usd, unpriced_requests::text
       FROM usage_rollups WHERE tenant_id = $1 AND ${range}
      ORDER BY ${GROUP_NAMES}`,
    params,
  );
  const pending = await tx.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM usage_events
      WHERE tenant_id = $1 AND xact >= ${cursor}
        AND ($2::date IS NULL OR created_at >= $2::date AT TIME ZONE 'UTC')
        AND ($3::date IS NULL OR created_at < $3::date AT TIME ZONE 'UTC')`,
    params,
  );
  return {
    ledger: ledger.rows.map(toSums),
    rollups: rollups.rows.map(toSums),
    pending: Number(one(pending.rows).n),
  };
}

/** Enqueues a rollup job for each tenant with ledger rows not rolled up and none waiting. */
export async function scheduleRollups(tx: OperatorTx, kind: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(`SELECT rampart_schedule_usage_rollups($1) AS n`, [
    kind,
  ]);
  return Number(one(rows).n);
}

/** Every tenant with usage or rollups (the operator commands' "all tenants"). */
export async function usageTenants(tx: OperatorTx): Promise<{ id: string; slug: string }[]> {
  const { rows } = await tx.query<{ id: string; slug: string }>(
    `SELECT id::text AS id, slug FROM rampart_usage_tenants()`,
  );
  return rows;
}
