import type { Database, TenantTx } from '../../src/platform/db/database.js';

/** One usage ledger row as a test writes it (the gateway's columns, with a chosen created_at). */
export interface LedgerRow {
  day: string; // YYYY-MM-DD
  keyId: string | null;
  userId: string | null;
  endpoint: 'chat' | 'embeddings';
  alias: string;
  provider: string | null;
  targetModel: string | null;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  /** Exact decimal text (up to 10 places), or null for an unpriced row. */
  costUsd: string | null;
  status: number;
  cacheHit: boolean;
}

/** Inserts rows into the tenant's ledger in tx, as the gateway's recorder would (append-only). */
export async function insertLedgerRows(tx: TenantTx, rows: readonly LedgerRow[]): Promise<void> {
  for (const r of rows)
    await tx.query(
      `INSERT INTO usage_events (tenant_id, key_id, user_id, endpoint, alias, provider, target_model,
              prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms, status,
              cache_hit, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 5, $12, $13,
               $14::date AT TIME ZONE 'UTC' + interval '13 hours')`,
      [
        tx.tenantId,
        r.keyId,
        r.userId,
        r.endpoint,
        r.alias,
        r.provider,
        r.targetModel,
        r.promptTokens,
        r.completionTokens,
        r.cachedTokens,
        r.costUsd,
        r.status,
        r.cacheHit,
        r.day,
      ],
    );
}

export function writeLedger(db: Database, tenantId: string, rows: readonly LedgerRow[]) {
  return db.withTenant({ tenantId, groups: [] }, (tx) => insertLedgerRows(tx, rows));
}

/** A row with defaults for the fields a test does not care about. */
export function ledgerRow(over: Partial<LedgerRow> = {}): LedgerRow {
  return {
    day: '2026-11-10',
    keyId: null,
    userId: null,
    endpoint: 'chat',
    alias: 'fast',
    provider: 'main',
    targetModel: 'gpt-x',
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 0,
    costUsd: '0.0000150000',
    status: 200,
    cacheHit: false,
    ...over,
  };
}

/** Sums a test computes itself from the rows it wrote, per rollup group (JSON of the group). */
export function expectedGroups(rows: readonly LedgerRow[]): Map<string, Record<string, string>> {
  const out = new Map<string, { n: bigint[]; cost: bigint }>();
  for (const r of rows) {
    const key = JSON.stringify([
      r.day,
      r.keyId,
      r.userId,
      r.endpoint,
      r.alias,
      r.provider,
      r.targetModel,
    ]);
    const g = out.get(key) ?? { n: [0n, 0n, 0n, 0n, 0n, 0n, 0n], cost: 0n };
    const add = [
      1,
      r.status >= 400 ? 1 : 0,
      r.cacheHit ? 1 : 0,
      r.promptTokens,
      r.completionTokens,
      r.cachedTokens,
      r.costUsd === null ? 1 : 0,
    ];
    g.n = g.n.map((v, i) => v + BigInt(add[i] ?? 0));
    if (r.costUsd !== null) {
      const [w = '0', f = ''] = r.costUsd.split('.');
      g.cost += BigInt(w) * 10_000_000_000n + BigInt(f.padEnd(10, '0'));
    }
    out.set(key, g);
  }
  const fmt = (ticks: bigint) =>
    `${(ticks / 10_000_000_000n).toString()}.${(ticks % 10_000_000_000n).toString().padStart(10, '0')}`;
  return new Map(
    [...out].map(([k, g]) => [
      k,
      {
        requests: String(g.n[0]),
        errors: String(g.n[1]),
        cacheHits: String(g.n[2]),
        promptTokens: String(g.n[3]),
        completionTokens: String(g.n[4]),
        cachedTokens: String(g.n[5]),
        unpricedRequests: String(g.n[6]),
        costUsd: fmt(g.cost),
      },
    ]),
  );
}
