import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROLLUP_JOB,
  createRollupScheduler,
  createUsageAnalytics,
  reconcileTenant,
  rollUpTenant,
} from '../src/analytics/rollups-service.js';
import { rollUpLedger } from '../src/analytics/rollups-store.js';
import { reconcile, type BillingIo } from '../src/cli/billing.js';
import type { Database } from '../src/platform/db/database.js';
import { JobQueue, enqueueJob } from '../src/platform/queue/queue.js';
import { createTestApp, SERVER_SECRET, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import {
  expectedGroups,
  insertLedgerRows,
  ledgerRow,
  writeLedger,
  type LedgerRow,
} from './helpers/ledger.js';

/** The tenant's rollups as the test reads them, keyed like expectedGroups. */
async function rollupGroups(db: Database, tenantId: string) {
  const { rows } = await db.withTenant({ tenantId, groups: [] }, (tx) =>
    tx.query<Record<string, string | null>>(
      `SELECT day::text AS day, key_id::text AS key_id, user_id::text AS user_id, feature, alias,
              provider, target_model, requests::text, errors::text, cache_hits::text,
              prompt_tokens::text, completion_tokens::text, cached_tokens::text,
              cost_usd::text, unpriced_requests::text
         FROM usage_rollups WHERE tenant_id = $1`,
      [tenantId],
    ),
  );
  return new Map(
    rows.map((r) => [
      JSON.stringify([r.day, r.key_id, r.user_id, r.feature, r.alias, r.provider, r.target_model]),
      {
        requests: String(r.requests),
        errors: String(r.errors),
        cacheHits: String(r.cache_hits),
        promptTokens: String(r.prompt_tokens),
        completionTokens: String(r.completion_tokens),
        cachedTokens: String(r.cached_tokens),
        unpricedRequests: String(r.unpriced_requests),
        costUsd: String(r.cost_usd),
      },
    ]),
  );
}

/** Runs the real CLI entry point in a child process with exactly the given environment. */
function rampart(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/rampart.js', ...args], {
      cwd: join(import.meta.dirname, '..'),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

const KEYS = [randomUUID(), randomUUID()];
const USERS = [randomUUID(), randomUUID()];

/** Random ledger rows over a few days, keys, users, features and models, with exact costs. */
const arbRow: fc.Arbitrary<LedgerRow> = fc.record({
  day: fc.constantFrom('2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02'),
  keyId: fc.constantFrom(null, ...KEYS),
  userId: fc.constantFrom(null, ...USERS),
  endpoint: fc.constantFrom('chat' as const, 'embeddings' as const),
  alias: fc.constantFrom('fast', 'smart', 'emb'),
  provider: fc.constantFrom(null, 'main', 'backup'),
  targetModel: fc.constantFrom(null, 'gpt-a', 'gpt-b'),
  promptTokens: fc.integer({ min: 0, max: 200_000 }),
  completionTokens: fc.integer({ min: 0, max: 50_000 }),
  cachedTokens: fc.integer({ min: 0, max: 1000 }),
  costUsd: fc.option(
    fc
      .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 9_999_999_999 }))
      .map(([w, f]) => `${w}.${String(f).padStart(10, '0')}`),
    { nil: null },
  ),
  status: fc.constantFrom(200, 200, 200, 429, 500),
  cacheHit: fc.boolean(),
});

/** One step of random traffic: a batch of rows in its own transaction, or a rollup step. */
const arbOps: fc.Arbitrary<({ kind: 'insert'; rows: LedgerRow[] } | { kind: 'rollup' })[]> =
  fc.array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .array(arbRow, { minLength: 1, maxLength: 6 })
          .map((rows) => ({ kind: 'insert' as const, rows })),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'rollup' as const }) },
    ),
    { minLength: 1, maxLength: 14 },
  );

describe.each(testDrivers())('usage rollups: the read model equals the ledger (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  const io = (lines: string[]): BillingIo => ({
    db: t.db,
    serverSecret: SERVER_SECRET,
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
  });

  it('property: after random traffic, with late rows and inserts racing the job, rollups equal the ledger exactly', async () => {
    await fc.assert(
      fc.asyncProperty(arbOps, fc.array(arbRow, { maxLength: 5 }), async (ops, late) => {
        const tenant = await app.createTenant();
        const written: LedgerRow[] = [];
        // Operations start in waves that run concurrently: batches commit while steps run (on
        // PostgreSQL truly at once; on the single embedded connection, interleaved).
        for (let i = 0; i < ops.length; i += 3) {
          await Promise.all(
            ops.slice(i, i + 3).map(async (op) => {
              if (op.kind === 'rollup') await rollUpTenant(t.db, tenant.id);
              else {
                await writeLedger(t.db, tenant.id, op.rows);
                written.push(...op.rows);
              }
            }),
          );
        }
        await rollUpTenant(t.db, tenant.id);
        // Late rows: days already rolled up get more traffic after the fact.
        await writeLedger(t.db, tenant.id, late);
        written.push(...late);
        await rollUpTenant(t.db, tenant.id);
        expect(await rollupGroups(t.db, tenant.id)).toEqual(expectedGroups(written));
        const r = await reconcileTenant(t.db, tenant.id);
        expect(r.mismatches).toEqual([]);
        expect(r.pending).toBe(0);
      }),
      { numRuns: driver === 'pglite' ? 12 : 8, seed: 3101 },
    );
  });

  it.runIf(driver === 'postgres')(
    'a row whose transaction is still open when a step runs is counted by a later step, once',
    async () => {
      const tenant = await app.createTenant();
      await writeLedger(t.db, tenant.id, [ledgerRow({ promptTokens: 1 })]);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const insertedP = new Promise<void>((r) => (inserted = r));
      // A transaction that inserts, then stays open while the job runs twice.
      const open = t.db.withTenant({ tenantId: tenant.id, groups: [] }, async (tx) => {
        await insertLedgerRows(tx, [ledgerRow({ promptTokens: 100 })]);
        inserted();
        await gate;
      });
      await insertedP;
      // Committed after the open one started: its xact is above the open one's.
      await writeLedger(t.db, tenant.id, [ledgerRow({ promptTokens: 10_000 })]);
      await rollUpTenant(t.db, tenant.id);
      await rollUpTenant(t.db, tenant.id);
      const tokens = async () =>
        (await rollupGroups(t.db, tenant.id)).get(
          JSON.stringify(['2026-11-10', null, null, 'chat', 'fast', 'main', 'gpt-x']),
        )?.promptTokens;
      // The first row only: the open transaction holds back the cursor, and the row committed
      // after it waits with it rather than being counted past a gap.
      expect(await tokens()).toBe('1');
      release();
      await open;
      await rollUpTenant(t.db, tenant.id);
      expect(await tokens()).toBe('10101');
      await rollUpTenant(t.db, tenant.id);
      expect(await tokens()).toBe('10101');
    },
  );

  it('a step that dies before commit leaves nothing; the next counts each row once', async () => {
    const tenant = await app.createTenant();
    await writeLedger(t.db, tenant.id, [ledgerRow({ completionTokens: 7 })]);
    await expect(
      t.db.withTenant({ tenantId: tenant.id, groups: [] }, async (tx) => {
        await rollUpLedger(tx);
        throw new Error('worker died');
      }),
    ).rejects.toThrow('worker died');
    expect((await rollupGroups(t.db, tenant.id)).size).toBe(0);
    await rollUpTenant(t.db, tenant.id);
    await rollUpTenant(t.db, tenant.id);
    const groups = [...(await rollupGroups(t.db, tenant.id)).values()];
    expect(groups.map((g) => g.completionTokens)).toEqual(['7']);
  });

  it('the rollup job under two concurrent workers counts every row exactly once', async () => {
    const tenant = await app.createTenant();
    const analytics = createUsageAnalytics({ db: t.db });
    const second = driver === 'postgres' ? await t.openReplica() : t.db;
    const workers = [t.db, second].map((db) => {
      const q = new JobQueue(db, {
        pollIntervalMs: 50,
        concurrency: 2,
        leaseMs: 30_000,
        retryBaseMs: 10,
        retryMaxMs: 100,
      });
      for (const [kind, h] of Object.entries(analytics.jobs)) q.register(kind, h);
      return q;
    });
    const written: LedgerRow[] = [];
    for (let round = 0; round < 4; round++) {
      const rows = Array.from({ length: 5 }, (_, i) =>
        ledgerRow({
          day: `2026-11-1${round}`,
          keyId: KEYS[i % 2] ?? null,
          promptTokens: round * 10 + i,
          costUsd: `0.00000${i}1234`,
        }),
      );
      await writeLedger(t.db, tenant.id, rows);
      written.push(...rows);
      // Several jobs for the same tenant, claimed by both workers at once.
      await t.db.withTenant({ tenantId: tenant.id, groups: [] }, async (tx) => {
        for (let j = 0; j < 3; j++) await enqueueJob(tx, { kind: ROLLUP_JOB, payload: {} });
      });
      const outcomes = (await Promise.all(workers.map((w) => w.drain()))).flat();
      expect(outcomes.every((o) => o.state === 'completed')).toBe(true);
    }
    expect(await rollupGroups(t.db, tenant.id)).toEqual(expectedGroups(written));
    const cursor = await t.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
      tx.query<{ rows_rolled: string }>(
        `SELECT rows_rolled::text AS rows_rolled FROM usage_rollup_cursors WHERE tenant_id = $1`,
        [tenant.id],
      ),
    );
    expect(cursor.rows[0]?.rows_rolled).toBe('20');
  });

  it('the scheduler queues one job per tenant with new ledger rows, and none when caught up', async () => {
    const tenant = await app.createTenant();
    await writeLedger(t.db, tenant.id, [ledgerRow()]);
    const scheduler = createRollupScheduler(t.db, 60_000);
    const jobs = async () =>
      (
        await t.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
          tx.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM jobs WHERE kind = $1 AND state = 'queued'`,
            [ROLLUP_JOB],
          ),
        )
      ).rows[0]?.n;
    expect(await scheduler.tick()).toBeGreaterThanOrEqual(1);
    expect(await jobs()).toBe('1');
    await scheduler.tick();
    expect(await jobs()).toBe('1');
    const analytics = createUsageAnalytics({ db: t.db });
    const q = new JobQueue(t.db, {
      pollIntervalMs: 50,
      concurrency: 1,
      leaseMs: 30_000,
      retryBaseMs: 10,
      retryMaxMs: 100,
    });
    for (const [kind, h] of Object.entries(analytics.jobs)) q.register(kind, h);
    await q.drain();
    expect(await jobs()).toBe('0');
    await scheduler.tick();
    expect(await jobs()).toBe('0');
    expect((await reconcileTenant(t.db, tenant.id)).groups).toBe(1);
  });

  it('rampart billing reconcile: 0 when equal, 1 on a mismatch, 2 on bad input or an unknown tenant', async () => {
    const tenant = await app.createTenant();
    await writeLedger(t.db, tenant.id, [
      ledgerRow({ day: '2026-11-01' }),
      ledgerRow({ day: '2026-11-02', costUsd: null }),
    ]);
    await rollUpTenant(t.db, tenant.id);
    const out: string[] = [];
    expect(await reconcile(io(out), { tenant: tenant.slug })).toBe(0);
    expect(out.join('\n')).toContain(`usage rollups of ${tenant.slug}: OK, 2 groups`);
    // Rows not rolled up yet are reported, not counted as a mismatch.
    await writeLedger(t.db, tenant.id, [ledgerRow({ day: '2026-11-02' })]);
    out.length = 0;
    expect(await reconcile(io(out), { tenant: tenant.slug })).toBe(0);
    expect(out.join('\n')).toContain('1 ledger rows not rolled up yet');
    await rollUpTenant(t.db, tenant.id);
    // A rollup that drifted from the ledger (one request added behind the job's back).
    await t.asOwner((q) =>
      q.query(
        `UPDATE usage_rollups SET requests = requests + 1 WHERE tenant_id = $1 AND day = '2026-11-02'`,
        [tenant.id],
      ),
    );
    out.length = 0;
    expect(await reconcile(io(out), { tenant: tenant.slug })).toBe(1);
    expect(out.join('\n')).toContain('MISMATCH in 1 of 2 groups');
    // Outside the drifted day the range is clean.
    out.length = 0;
    expect(
      await reconcile(io(out), { tenant: tenant.slug, from: '2026-11-01', to: '2026-11-02' }),
    ).toBe(0);
    // Over every tenant the drift is found too.
    out.length = 0;
    expect(await reconcile(io(out), {})).toBe(1);
    expect(await reconcile(io([]), { tenant: 'no-such-tenant' })).toBe(2);
    expect(await reconcile(io([]), { tenant: tenant.slug, from: '2026-13-01' })).toBe(2);
    expect(
      await reconcile(io([]), { tenant: tenant.slug, from: '2026-11-02', to: '2026-11-01' }),
    ).toBe(2);
  });

  // The binary on PostgreSQL (an embedded data directory would need a fresh initdb in the child,
  // minutes on a busy machine; on the embedded driver the same function is called in-process above).
  it.runIf(driver === 'postgres')(
    'the rampart binary: billing reconcile exits 0 when equal, 1 on a mismatch, 2 for an unknown tenant',
    { timeout: 180_000 },
    async () => {
      const tenant = await app.createTenant();
      await writeLedger(t.db, tenant.id, [ledgerRow({ day: '2026-11-03' })]);
      await rollUpTenant(t.db, tenant.id);
      const env = { ...(t.settings ?? {}), RAMPART_SECRET_KEY: SERVER_SECRET };
      const ok = await rampart(['billing', 'reconcile', '--tenant', tenant.slug], env);
      expect(ok.out).toContain('OK, 1 groups equal the ledger');
      expect(ok.code).toBe(0);
      await t.asOwner((q) =>
        q.query(
          `UPDATE usage_rollups SET cost_usd = cost_usd + 0.0000000001 WHERE tenant_id = $1`,
          [tenant.id],
        ),
      );
      const bad = await rampart(['billing', 'reconcile', '--tenant', tenant.slug], env);
      expect(bad.out).toContain('MISMATCH in 1 of 1 groups');
      expect(bad.code).toBe(1);
      expect((await rampart(['billing', 'reconcile', '--tenant', 'nobody'], env)).code).toBe(2);
    },
  );
});
