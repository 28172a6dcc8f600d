import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../src/platform/db/database.js';
import { JobQueue, enqueueJob, retryDelayMs, type Job } from '../src/platform/queue/queue.js';
import { uniqueSlug } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const OPTS = {
  pollIntervalMs: 50,
  concurrency: 2,
  leaseMs: 60_000,
  retryBaseMs: 60_000,
  retryMaxMs: 600_000,
};

async function createTenant(db: Database): Promise<string> {
  const slug = uniqueSlug('q');
  const { rows } = await db.withOperator((tx) =>
    tx.query<{ id: string }>(`SELECT rampart_create_tenant($1, $2) AS id`, [slug, slug]),
  );
  return (rows[0] as { id: string }).id;
}

interface JobRow {
  state: string;
  attempts: number;
  last_error: string | null;
  delay_ms: number | null;
}

describe('retryDelayMs', () => {
  it('doubles from the base per attempt and stops at the maximum', () => {
    const o = { retryBaseMs: 1000, retryMaxMs: 5000 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, o))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });
  it('spreads delays within ±jitter', () => {
    const o = { retryBaseMs: 1000, retryMaxMs: 60_000, retryJitter: 0.2 };
    expect(retryDelayMs(2, o, () => 0)).toBe(1600);
    expect(retryDelayMs(2, o, () => 1)).toBe(2400);
    expect(retryDelayMs(2, o, () => 0.5)).toBe(2000);
  });
});

describe.each(testDrivers())('durable job queue (%s)', (driver) => {
  let t: TestDatabase;
  let tenant: string;
  const ctx = () => ({ tenantId: tenant, groups: [] as string[] });

  const jobRow = async (id: string): Promise<JobRow> => {
    const { rows } = await t.asOwner((q) =>
      q.query<JobRow>(
        `SELECT state, attempts, last_error,
                (extract(epoch FROM run_at - failed_at) * 1000)::int AS delay_ms
           FROM jobs WHERE id = $1`,
        [id],
      ),
    );
    return rows[0] as JobRow;
  };
  const makeDue = (id: string) =>
    t.asOwner((q) => q.query(`UPDATE jobs SET run_at = now() WHERE id = $1`, [id]));

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    tenant = await createTenant(t.db);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a job enqueued in a transaction that rolls back does not exist; a committed one does', async () => {
    const kind = 'test.rollback';
    await expect(
      t.db.withTenant(ctx(), async (tx) => {
        await enqueueJob(tx, { kind, payload: { n: 1 } });
        throw new Error('the work failed');
      }),
    ).rejects.toThrow('the work failed');
    const count = async () =>
      (
        await t.asOwner((q) =>
          q.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE kind = $1`, [kind]),
        )
      ).rows[0]?.n;
    expect(await count()).toBe(0);
    const id = await t.db.withTenant(ctx(), (tx) => enqueueJob(tx, { kind, payload: { n: 2 } }));
    expect(await count()).toBe(1);
    const seen: unknown[] = [];
    const queue = new JobQueue(t.db, OPTS).register(kind, {
      run: async (job) => void seen.push(job.payload),
    });
    const outcomes = await queue.drain();
    expect(outcomes.map((o) => [o.job.id, o.state])).toEqual([[id, 'completed']]);
    expect(seen).toEqual([{ n: 2 }]);
    expect((await jobRow(id)).state).toBe('completed');
  });

  it('a failing job is retried with exponential backoff and goes dead after max attempts', async () => {
    const kind = 'test.flaky';
    const dead: { attempt: number; error: string }[] = [];
    let runs = 0;
    const queue = new JobQueue(t.db, OPTS).register(kind, {
      run: async () => {
        runs += 1;
        throw new Error(`boom ${runs}`);
      },
      onDead: async (job, error) => void dead.push({ attempt: job.attempt, error }),
    });
    const id = await t.db.withTenant(ctx(), (tx) =>
      enqueueJob(tx, { kind, payload: {}, maxAttempts: 3 }),
    );

    expect((await queue.drain()).map((o) => o.state)).toEqual(['queued']);
    expect(await jobRow(id)).toEqual({
      state: 'queued',
      attempts: 1,
      last_error: 'boom 1',
      delay_ms: 60_000,
    });
    // Not due yet: nothing to claim.
    expect(await queue.drain()).toEqual([]);

    await makeDue(id);
    expect((await queue.drain()).map((o) => o.state)).toEqual(['queued']);
    expect(await jobRow(id)).toEqual({
      state: 'queued',
      attempts: 2,
      last_error: 'boom 2',
      delay_ms: 120_000,
    });

    await makeDue(id);
    expect((await queue.drain()).map((o) => o.state)).toEqual(['dead']);
    expect((await jobRow(id)).state).toBe('dead');
    expect(dead).toEqual([{ attempt: 3, error: 'boom 3' }]);
    await makeDue(id);
    expect(await queue.drain()).toEqual([]);
    expect(runs).toBe(3);
  });

  it('a running worker survives a throwing handler and keeps processing other jobs', async () => {
    const done: string[] = [];
    const queue = new JobQueue(t.db, { ...OPTS, retryBaseMs: 0 })
      .register('test.bad', {
        run: async () => {
          throw new TypeError('handler bug');
        },
      })
      .register('test.good', { run: async (job) => void done.push(job.id) });
    const [bad, good1] = await t.db.withTenant(ctx(), async (tx) => [
      await enqueueJob(tx, { kind: 'test.bad', payload: {}, maxAttempts: 2 }),
      await enqueueJob(tx, { kind: 'test.good', payload: {} }),
    ]);
    await queue.start();
    try {
      await vi.waitFor(async () => expect((await jobRow(bad as string)).state).toBe('dead'), {
        timeout: 15_000,
        interval: 50,
      });
      // Enqueued after the failures: the worker is still claiming.
      const good2 = await t.db.withTenant(ctx(), (tx) =>
        enqueueJob(tx, { kind: 'test.good', payload: {} }),
      );
      await vi.waitFor(() => expect(done.sort()).toEqual([good1, good2].sort()), {
        timeout: 15_000,
        interval: 50,
      });
      expect((await jobRow(bad as string)).last_error).toBe('handler bug');
    } finally {
      await queue.stop();
    }
  });

  it('a job whose worker died is re-claimed after its lease, and the stale attempt cannot settle it', async () => {
    const kind = 'test.lease';
    const runs: Job[] = [];
    const handler = { run: async (job: Job) => void runs.push(job) };
    const first = new JobQueue(t.db, OPTS).register(kind, handler);
    const second = new JobQueue(t.db, OPTS).register(kind, handler);
    const id = await t.db.withTenant(ctx(), (tx) => enqueueJob(tx, { kind, payload: {} }));
    const [claimed] = await first.claim(1);
    expect(claimed?.attempt).toBe(1);
    // Leased: another worker cannot take it.
    expect(await second.claim(1)).toEqual([]);
    // The first worker "dies"; its lease runs out.
    await t.asOwner((q) =>
      q.query(`UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = $1`, [id]),
    );
    const outcomes = await second.drain();
    expect(outcomes.map((o) => [o.state, o.job.attempt])).toEqual([['completed', 2]]);
    // The dead worker's attempt comes back late: it no longer holds the job.
    expect((await first.execute(claimed as Job)).state).toBe('lost');
    expect((await jobRow(id)).state).toBe('completed');
    expect(runs.map((j) => j.attempt)).toEqual([2, 1]);
  });

  it('a job whose worker died during its last attempt goes dead and runs its dead-job hook', async () => {
    const kind = 'test.lastgasp';
    const dead: string[] = [];
    let runs = 0;
    const queue = new JobQueue(t.db, OPTS).register(kind, {
      run: async () => {
        runs += 1;
      },
      onDead: async (job, error) => void dead.push(`${job.attempt}: ${error}`),
    });
    const id = await t.db.withTenant(ctx(), (tx) =>
      enqueueJob(tx, { kind, payload: {}, maxAttempts: 1 }),
    );
    expect((await queue.claim(1)).map((j) => j.attempt)).toEqual([1]);
    await t.asOwner((q) =>
      q.query(`UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = $1`, [id]),
    );
    expect((await queue.drain()).map((o) => o.state)).toEqual(['dead']);
    expect(runs).toBe(0);
    expect(dead).toEqual(['2: the worker running the last attempt stopped before finishing it']);
    expect((await jobRow(id)).state).toBe('dead');
  });

  it('tenants see only their own jobs', async () => {
    const other = await createTenant(t.db);
    await t.db.withTenant({ tenantId: other, groups: [] }, (tx) =>
      enqueueJob(tx, { kind: 'test.private', payload: { secret: 1 } }),
    );
    const seen = await t.db.withTenant(ctx(), (tx) =>
      tx.query<{ tenant_id: string }>(`SELECT tenant_id FROM jobs`),
    );
    expect(seen.rows.length).toBeGreaterThan(0);
    expect(seen.rows.filter((r) => r.tenant_id !== tenant)).toEqual([]);
    await expect(
      t.db.withTenant(ctx(), (tx) =>
        tx.query(`INSERT INTO jobs (tenant_id, kind) VALUES ($1, 'test.x')`, [other]),
      ),
    ).rejects.toMatchObject({ code: '42501' });
  });
});
