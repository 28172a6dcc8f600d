/**
 * Usage-ledger write benchmark (not a test): what one batch of gateway usage rows costs the
 * PostgreSQL server, written exactly as the gateway writes it (usageColumns, then
 * insertUsageColumns in a tenant transaction, as a login in rampart_app, under RLS), with the
 * request ids the gateway makes
 * (time-ordered UUIDv7) next to random UUIDv4 ids (the earlier ids, and what a client that
 * sends its own random X-Request-Id still gets). The ids decide where each row lands in the
 * (tenant_id, request_id) index: at its right-hand edge, or on a random leaf.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:ledger -- \
 *     [--rows 200] [--batches 100] [--rounds 4] [--prefill 1000000]
 *
 * DATABASE_URL's login must be allowed to create databases and roles; the bench works in a
 * throwaway database it drops at the end. The two kinds of id alternate in rounds (A B B A …)
 * into the same table, after --prefill rows of random ids, so both see the same index size,
 * and each round starts after a CHECKPOINT, as production rounds of writes do.
 * Prints CPU per batch of the PostgreSQL backend (from /proc) and of this process, and the wall
 * time per batch from building its columns to its commit.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Database } from '../src/platform/db/database.js';
import { createPgDriver, withAdminClient } from '../src/platform/db/pg-driver.js';
import { databaseUrl } from '../src/platform/db/roles.js';
import {
  insertUsageColumns,
  usageColumns,
  type BufferedUsage,
} from '../src/gateway/usage/usage-store.js';
import { builtinPrice } from '../src/gateway/config/prices.js';
import { newRequestId } from '../src/platform/http/request-id.js';
import { prepareDatabase } from './gateway/rampart.js';
import { treeCpuSeconds } from './gateway/cpu.js';
import { percentile } from './gateway/load.js';
import { table } from './gateway/report.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '200' },
    batches: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '4' },
    prefill: { type: 'string', default: '1000000' },
  },
});
const rows = Number(args.rows);
const batches = Number(args.batches);
const rounds = Number(args.rounds);
const prefill = Number(args.prefill);
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  console.error('bench:ledger needs DATABASE_URL (a PostgreSQL login that may create databases)');
  process.exit(2);
}

interface Variant {
  label: string;
  id: () => string;
  pgSeconds: number;
  nodeSeconds: number;
  wallMs: number[];
}
const variant = (label: string, id: () => string): Variant => ({
  label,
  id,
  pgSeconds: 0,
  nodeSeconds: 0,
  wallMs: [],
});
const variants = [
  variant('UUIDv7 (time-ordered)', () => newRequestId()),
  variant('UUIDv4 (random)', () => randomUUID()),
];

const database = await prepareDatabase(adminUrl);
const db = new Database(
  createPgDriver({
    connectionString: database.env.DATABASE_URL as string,
    poolMax: 1,
    statementTimeoutMs: 60_000,
  }),
);
try {
  const tenantId = randomUUID();
  const keyId = randomUUID();
  const ownerUrl = databaseUrl(
    adminUrl,
    new URL(database.env.DATABASE_URL as string).pathname.slice(1),
  );
  await withAdminClient(ownerUrl, async (q) => {
    await q.query(
      `INSERT INTO tenants (id, slug, name) VALUES ($1, 'ledger-bench', 'Ledger bench')`,
      [tenantId],
    );
    // Rows already in the ledger, with random ids: the index a deployment has before the batch.
    await q.query(
      `INSERT INTO usage_events (tenant_id, key_id, endpoint, alias, provider, target_model,
         prompt_tokens, completion_tokens, latency_ms, status, request_id, created_at)
       SELECT $1, $2, 'chat', 'gpt-4o-mini', 'fake', 'gpt-4o-mini', 12, 6, 1, 200,
              gen_random_uuid()::text, now() - make_interval(secs => g)
         FROM generate_series(1, $3::int) g`,
      [tenantId, keyId, prefill],
    );
    await q.exec('VACUUM ANALYZE usage_events');
  });
  const ctx = { tenantId, groups: [] };
  const backend = await db.withTenant(ctx, (tx) =>
    tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'),
  );
  const pid = backend.rows[0]?.pid as number;
  const price = builtinPrice('gpt-4o-mini');
  const batch = (id: () => string): BufferedUsage[] =>
    Array.from({ length: rows }, () => ({
      at: new Date(),
      builtin: price,
      event: {
        keyId,
        userId: null,
        endpoint: 'chat' as const,
        alias: 'gpt-4o-mini',
        provider: 'fake',
        targetModel: 'gpt-4o-mini',
        promptTokens: 12,
        completionTokens: 6,
        cachedTokens: 0,
        latencyMs: 0.6,
        upstreamLatencyMs: 0.3,
        status: 200,
        stream: false,
        cacheHit: false,
        requestId: id(),
      },
    }));
  const measure = async (v: Variant, count: number, record: boolean): Promise<void> => {
    const batchesToWrite = Array.from({ length: count }, () => batch(v.id));
    const pg0 = treeCpuSeconds(pid);
    const cpu0 = process.cpuUsage();
    for (const b of batchesToWrite) {
      const t0 = performance.now();
      const columns = await usageColumns(b);
      await db.withTenant(ctx, (tx) => insertUsageColumns(tx, columns));
      if (record) v.wallMs.push(performance.now() - t0);
    }
    if (!record) return;
    const cpu = process.cpuUsage(cpu0);
    v.pgSeconds += treeCpuSeconds(pid) - pg0;
    v.nodeSeconds += (cpu.user + cpu.system) / 1e6;
  };
  // Warm-up: plans cached, both regions of the index touched.
  for (const v of variants) await measure(v, 10, false);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      // As after each of the server's periodic checkpoints (checkpoint_timeout, 5 min by
      // default): the first change to a page after one writes the whole page to the WAL, so
      // what a batch costs depends on how many distinct index pages its rows touch.
      await withAdminClient(ownerUrl, (q) => q.exec('CHECKPOINT'));
      await measure(v, batches, true);
    }
  }

  console.log(`\nUsage ledger writes — ${new Date().toISOString()}, node ${process.version}`);
  console.log(
    `${rounds} alternating rounds of ${batches} batches × ${rows} rows per kind of id, each after a CHECKPOINT, into a ledger prefilled with ${prefill} rows; one tenant transaction per batch, under RLS\n`,
  );
  const head = [
    'request ids',
    'batches',
    'PG CPU ms/batch',
    'PG µs/row',
    'node CPU ms/batch',
    'wall p50 ms',
    'wall p90 ms',
  ];
  const figures = variants.map((v) => {
    const n = v.wallMs.length;
    const wall = Float64Array.from(v.wallMs).sort();
    return [
      v.label,
      String(n),
      ((v.pgSeconds * 1000) / n).toFixed(2),
      ((v.pgSeconds * 1e6) / (n * rows)).toFixed(1),
      ((v.nodeSeconds * 1000) / n).toFixed(2),
      percentile(wall, 50).toFixed(2),
      percentile(wall, 90).toFixed(2),
    ];
  });
  console.log(table(head, figures));
  const [v7, v4] = variants as [Variant, Variant];
  console.log(
    `\nPostgreSQL CPU per row, UUIDv7 ÷ UUIDv4: ${(v7.pgSeconds / v7.wallMs.length / (v4.pgSeconds / v4.wallMs.length)).toFixed(2)}`,
  );
} finally {
  await db.close();
  await database.drop();
}
