import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, canonicalJson, canonicalTime, hashEvent } from '../src/audit/chain.js';
import { appendAuditEvent, verifyChain } from '../src/audit/service.js';
import { RETENTION_SWEEP_JOB } from '../src/governance/index.js';
import { JobQueue } from '../src/platform/queue/queue.js';
import { SERVER_SECRET, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';

const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY);
const ctx = (tenantId: string) => ({ tenantId, userId: null, groups: [] });

/**
 * Appends `n` events to a tenant's chain as they would have been written `age` days ago: the
 * same fields and hashes appendAuditEvent computes, with an old occurred_at (which the
 * application never writes, so the owner inserts them).
 */
async function backdatedEvents(
  t: TestDatabase,
  tenantId: string,
  n: number,
  age: number,
  actorId: (i: number) => string = (i) => `key-${i}`,
): Promise<void> {
  await t.asOwner(async (q) => {
    const { rows } = await q.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
      [tenantId],
    );
    let seq = Number(rows[0]?.seq ?? 0);
    let prev = rows[0]?.hash ?? GENESIS_HASH;
    for (let i = 1; i <= n; i++) {
      seq += 1;
      const f = {
        tenantId,
        seq,
        occurredAt: canonicalTime(new Date(Date.now() - age * DAY + seq * 1000)),
        actorType: 'api_key',
        actorId: actorId(seq),
        action: 'price.set',
        targetType: 'thing',
        targetId: String(seq),
        outcome: 'success',
        ip: null,
        requestId: null,
        details: { i: seq },
        prevHash: prev,
      };
      const hash = hashEvent(f);
      await q.query(
        `INSERT INTO audit_events (tenant_id, seq, occurred_at, actor_type, actor_id, action, target_type,
                                   target_id, outcome, details, prev_hash, hash)
         VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)`,
        [
          tenantId,
          seq,
          f.occurredAt,
          f.actorType,
          f.actorId,
          f.action,
          f.targetType,
          f.targetId,
          f.outcome,
          canonicalJson(f.details),
          prev,
          hash,
        ],
      );
      prev = hash;
    }
  });
}

async function freshEvents(t: TestDatabase, tenantId: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await t.db.withTenant(ctx(tenantId), (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'system', id: null },
        action: 'price.set',
        outcome: 'success',
        details: { fresh: i },
      }),
    );
}

describe.each(testDrivers())(
  'governance: retention, holds and audit checkpoints (%s)',
  (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let queue: JobQueue;
    let call: ReturnType<typeof apiClient>;

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      app = await createTestApp(t.db);
      call = apiClient(app);
      queue = new JobQueue(t.db, {
        pollIntervalMs: 1000,
        concurrency: 1,
        leaseMs: 30_000,
        retryBaseMs: 10,
        retryMaxMs: 10,
      });
      for (const [kind, handler] of Object.entries(app.governance.jobs))
        queue.register(kind, handler);
    });
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    /** Owner-inserted rows of every registered class, old and recent. */
    async function seed(tenantId: string, heldUser: string, heldDoc: string) {
      await t.asOwner(async (q) => {
        for (const [user, age] of [
          [null, 60],
          [null, 60],
          [heldUser, 60],
          [null, 5],
        ] as const)
          await q.query(
            `INSERT INTO usage_events (tenant_id, user_id, endpoint, alias, latency_ms, status, created_at)
           VALUES ($1, $2, 'chat', 'fast', 1, 200, $3)`,
            [tenantId, user, daysAgo(age)],
          );
        for (const [id, tags, age, by] of [
          [randomUUID(), ['tmp'], 60, 'api_key:x'],
          [heldDoc, ['tmp'], 60, 'api_key:x'],
          [randomUUID(), ['tmp'], 60, `user:${heldUser}`],
          [randomUUID(), ['keep'], 60, 'api_key:x'],
          [randomUUID(), ['tmp'], 5, 'api_key:x'],
        ] as const)
          await q.query(
            `INSERT INTO documents (id, tenant_id, title, source_type, content_hash, bytes, created_by, tags, created_at)
           VALUES ($1, $2, 'Doc', 'text', $6, 1, $3, $4::text[], $5)`,
            [
              id,
              tenantId,
              by,
              `{${tags.join(',')}}`,
              daysAgo(age),
              createHash('sha256').update(id).digest('hex'),
            ],
          );
        for (const [kind, user, age] of [
          ['ask', null, 60],
          ['ask', null, 5],
          ['sql_ask', null, 60],
          ['copilot_run', heldUser, 60],
        ] as const)
          await q.query(
            `INSERT INTO request_records (tenant_id, request_id, kind, user_id, question, answer, created_at)
           VALUES ($1, $2, $3, $4, 'q', '{}', $5)`,
            [tenantId, randomUUID(), kind, user, daysAgo(age)],
          );
        for (const [status, finished] of [
          ['succeeded', 60],
          ['running', null],
          ['failed', 5],
        ] as const) {
          const { rows } = await q.query<{ id: string }>(
            `INSERT INTO runs (tenant_id, agent_id, agent, caller_kind, caller_role, input, status, created_at, finished_at)
           VALUES ($1, gen_random_uuid(), '{}', 'api_key', 'owner', '[]', $2, $3, $4) RETURNING id`,
            [tenantId, status, daysAgo(90), finished === null ? null : daysAgo(finished)],
          );
          await q.query(
            `INSERT INTO run_events (tenant_id, run_id, seq, type, created_at) VALUES ($1, $2, 1, 'step', $3)`,
            [tenantId, rows[0]?.id, daysAgo(90)],
          );
        }
      });
    }

    async function counts(tenantId: string) {
      return t.asOwner(async (q) => {
        const one = async (sql: string) =>
          Number((await q.query<{ n: string }>(sql, [tenantId])).rows[0]?.n);
        return {
          usage: await one('SELECT count(*) AS n FROM usage_events WHERE tenant_id = $1'),
          documents: await one('SELECT count(*) AS n FROM documents WHERE tenant_id = $1'),
          runs: await one('SELECT count(*) AS n FROM runs WHERE tenant_id = $1'),
          runEvents: await one('SELECT count(*) AS n FROM run_events WHERE tenant_id = $1'),
          asks: await one(
            "SELECT count(*) AS n FROM request_records WHERE tenant_id = $1 AND kind <> 'sql_ask'",
          ),
          sqlAsks: await one(
            "SELECT count(*) AS n FROM request_records WHERE tenant_id = $1 AND kind = 'sql_ask'",
          ),
        };
      });
    }

    it('refuses an audit period below the operator floor and tags on a class other than documents, changing nothing', async () => {
      const tenant = await app.createTenant();
      const bad = await call('PUT', '/v1/governance/retention', tenant.ownerKey, {
        usage: { days: 30 },
        audit: { days: 30 },
        runs: { days: 10, tags: ['x'] },
      });
      expect(bad.status).toBe(400);
      expect(bad.text).toContain('body.audit.days');
      expect(bad.text).toContain('body.runs.tags');
      const got = await call('GET', '/v1/governance/retention', tenant.ownerKey);
      const body = got.body as {
        classes: { name: string; days: number | null }[];
        auditFloorDays: number;
      };
      expect(body.auditFloorDays).toBe(365);
      expect(body.classes.every((c) => c.days === null)).toBe(true);
      expect(body.classes.map((c) => c.name)).toEqual([
        'usage',
        'audit',
        'runs',
        'requests',
        'queries',
        'documents',
        'exports',
      ]);
    });

    it('a member may not set retention or place holds', async () => {
      const tenant = await app.createTenant();
      const key = await call('POST', '/v1/api-keys', tenant.ownerKey, { name: 'm', role: 'admin' });
      const secret = (key.body as { secret: string }).secret;
      expect(
        (await call('PUT', '/v1/governance/retention', secret, { usage: { days: 1 } })).status,
      ).toBe(403);
      expect(
        (await call('PUT', '/v1/governance/holds', secret, { scope: 'tenant', reason: 'x' }))
          .status,
      ).toBe(403);
    });

    it('one scheduled sweep per tenant per period deletes what is past its period, never what a hold covers', async () => {
      const tenant = await app.createTenant();
      const heldUser = randomUUID();
      const heldDoc = randomUUID();
      await seed(tenant.id, heldUser, heldDoc);
      const put = await call('PUT', '/v1/governance/retention', tenant.ownerKey, {
        usage: { days: 30 },
        runs: { days: 30 },
        documents: { days: 30, tags: ['tmp'] },
        requests: { days: 30 },
      });
      expect(put.status, put.text).toBe(200);
      for (const [scope, subjectId] of [
        ['user', heldUser],
        ['document', heldDoc],
      ] as const) {
        const h = await call('PUT', '/v1/governance/holds', tenant.ownerKey, {
          scope,
          subjectId,
          reason: 'litigation 2026-17',
        });
        expect(h.status, h.text).toBe(200);
      }
      // Two replicas tick at once: the database opens this period's sweep of the tenant once.
      const [a, b] = await Promise.all([
        app.governance.scheduler.tick(),
        app.governance.scheduler.tick(),
      ]);
      const mine = [...a, ...b].filter((e) => e.tenantId === tenant.id);
      expect(mine).toEqual([{ kind: RETENTION_SWEEP_JOB, tenantId: tenant.id }]);
      expect(
        (await app.governance.scheduler.tick()).filter((e) => e.tenantId === tenant.id),
      ).toEqual([]);
      const outcomes = await queue.drain();
      expect(outcomes.filter((o) => o.job.tenantId === tenant.id).map((o) => o.state)).toEqual([
        'completed',
      ]);

      // usage: two old rows gone, the held user's old row and the recent row kept. documents: the
      // old 'tmp' one, not the held document nor the held user's; 'keep' and recent stay.
      // runs: the finished old run (and its events); the running and the recent one stay.
      // requests: the old ask record, not the held user's run record nor the recent one; the SQL
      // record belongs to class queries, which has no period here.
      expect(await counts(tenant.id)).toEqual({
        usage: 2,
        documents: 4,
        runs: 2,
        runEvents: 2,
        asks: 2,
        sqlAsks: 1,
      });
      const view = (await call('GET', '/v1/governance/retention', tenant.ownerKey)).body as {
        sweeps: { state: string; deleted: Record<string, unknown> }[];
      };
      expect(view.sweeps[0]).toMatchObject({
        state: 'completed',
        deleted: {
          usage: { deleted: 2 },
          runs: { deleted: 1 },
          documents: { deleted: 1 },
          requests: { deleted: 1 },
        },
      });
      const events = await call(
        'GET',
        '/v1/audit-events?action=retention.applied',
        tenant.ownerKey,
      );
      expect((events.body as { data: unknown[] }).data).toHaveLength(1);
      const metrics = await app.metrics.registry.getSingleMetricAsString(
        'rampart_retention_deleted_rows_total',
      );
      expect(metrics).toMatch(/rampart_retention_deleted_rows_total\{class="usage"\} [1-9]/);
    });

    it('class queries sweeps the text-to-SQL records only; requests keeps its own', async () => {
      const tenant = await app.createTenant();
      await seed(tenant.id, randomUUID(), randomUUID());
      const put = await call('PUT', '/v1/governance/retention', tenant.ownerKey, {
        queries: { days: 30 },
      });
      expect(put.status, put.text).toBe(200);
      await app.governance.scheduler.tick();
      await queue.drain();
      expect(await counts(tenant.id)).toMatchObject({ asks: 3, sqlAsks: 0 });
    });

    it('a tenant-wide hold stops every class; releasing it lets the next sweep delete', async () => {
      const tenant = await app.createTenant();
      await seed(tenant.id, randomUUID(), randomUUID());
      await call('PUT', '/v1/governance/retention', tenant.ownerKey, { usage: { days: 30 } });
      const hold = await call('PUT', '/v1/governance/holds', tenant.ownerKey, {
        scope: 'tenant',
        reason: 'regulator inquiry',
      });
      const holdId = (hold.body as { id: string }).id;
      const sweep = async (period: number) => {
        const { rows } = await t.asOwner((q) =>
          q.query<{ id: string }>(
            `INSERT INTO retention_sweeps (tenant_id, period_start) VALUES ($1, $2) RETURNING id`,
            [tenant.id, new Date(period)],
          ),
        );
        return app.governance.sweeper.sweep(tenant.id, rows[0]?.id ?? '');
      };
      expect(await sweep(1)).toEqual({ usage: { skipped: 'legal_hold' } });
      expect((await counts(tenant.id)).usage).toBe(4);
      const listed = await call('GET', '/v1/governance/holds', tenant.ownerKey);
      expect((listed.body as { data: { scope: string }[] }).data.map((h) => h.scope)).toEqual([
        'tenant',
      ]);
      expect((await call('DELETE', `/v1/governance/holds/${holdId}`, tenant.ownerKey)).status).toBe(
        204,
      );
      expect((await call('DELETE', `/v1/governance/holds/${holdId}`, tenant.ownerKey)).status).toBe(
        404,
      );
      expect(await sweep(2)).toEqual({ usage: { deleted: 3 } });
      expect((await counts(tenant.id)).usage).toBe(1);
    });

    describe('audit pruning behind a signed checkpoint', () => {
      async function auditSweep(tenantId: string, period: number) {
        const { rows } = await t.asOwner(async (q) => {
          await q.query(
            `INSERT INTO retention_policies (tenant_id, data_class, days, updated_by) VALUES ($1, 'audit', 365, 'test')
           ON CONFLICT DO NOTHING`,
            [tenantId],
          );
          return q.query<{ id: string }>(
            `INSERT INTO retention_sweeps (tenant_id, period_start) VALUES ($1, $2) RETURNING id`,
            [tenantId, new Date(period)],
          );
        });
        return app.governance.sweeper.sweep(tenantId, rows[0]?.id ?? '');
      }

      /** A tenant whose chain starts with 6 events 400 days old, then its creation events and 2 more. */
      async function prunedTenant(): Promise<string> {
        const { rows } = await t.asOwner((q) =>
          q.query<{ id: string }>(
            `INSERT INTO tenants (slug, name) VALUES ($1, 'x') RETURNING id`,
            [`aud-${randomUUID().slice(0, 12)}`],
          ),
        );
        const id = rows[0]?.id ?? '';
        await backdatedEvents(t, id, 6, 400);
        await freshEvents(t, id, 2);
        return id;
      }

      it('prunes events older than the period, records a signed checkpoint, and the chain still verifies', async () => {
        const id = await prunedTenant();
        expect(await auditSweep(id, 10)).toEqual({ audit: { deleted: 6 } });
        const { rows } = await t.asOwner((q) =>
          q.query<{ seq: number; pruned: number }>(
            'SELECT seq::int AS seq, pruned FROM audit_checkpoints WHERE tenant_id = $1',
            [id],
          ),
        );
        expect(rows).toEqual([{ seq: 6, pruned: 6 }]);
        const v = await verifyChain(t.db, id, undefined, { serverSecret: SERVER_SECRET });
        // The 2 fresh events and the sweep's own retention.applied event, after the checkpoint.
        expect(v).toMatchObject({ ok: true, events: 3, checkpoint: { seq: 6 } });
        // Without the server secret a pruned chain cannot be vouched for.
        expect(await verifyChain(t.db, id)).toMatchObject({
          ok: false,
          brokenAt: { id: 'checkpoint' },
        });
        // A second sweep finds nothing more to prune (the rest is younger than the period).
        expect(await auditSweep(id, 11)).toEqual({ audit: { deleted: 0 } });
      });

      it('tampering after the checkpoint is found', async () => {
        const id = await prunedTenant();
        await auditSweep(id, 20);
        await t.asOwner((q) =>
          q.query(
            `UPDATE audit_events SET details = '{"fresh":99}' WHERE tenant_id = $1 AND seq = 7`,
            [id],
          ),
        );
        expect(
          await verifyChain(t.db, id, undefined, { serverSecret: SERVER_SECRET }),
        ).toMatchObject({
          ok: false,
          brokenAt: { seq: 7, reason: expect.stringContaining('altered') },
        });
      });

      it('replacing the first kept event (new prev_hash) is found against the checkpoint', async () => {
        const id = await prunedTenant();
        await auditSweep(id, 25);
        await t.asOwner((q) =>
          q.query(
            `UPDATE audit_events SET prev_hash = repeat('b', 64) WHERE tenant_id = $1 AND seq = 7`,
            [id],
          ),
        );
        expect(
          await verifyChain(t.db, id, undefined, { serverSecret: SERVER_SECRET }),
        ).toMatchObject({
          ok: false,
          brokenAt: { seq: 7, reason: expect.stringContaining('checkpoint') },
        });
      });

      it('tampering with the checkpoint itself, or deleting it, is found', async () => {
        const moved = await prunedTenant();
        await auditSweep(moved, 30);
        await t.asOwner((q) =>
          q.query(`UPDATE audit_checkpoints SET hash = repeat('c', 64) WHERE tenant_id = $1`, [
            moved,
          ]),
        );
        expect(
          await verifyChain(t.db, moved, undefined, { serverSecret: SERVER_SECRET }),
        ).toMatchObject({ ok: false, brokenAt: { id: 'checkpoint' } });

        const gone = await prunedTenant();
        await auditSweep(gone, 31);
        await t.asOwner((q) =>
          q.query(`DELETE FROM audit_checkpoints WHERE tenant_id = $1`, [gone]),
        );
        expect(
          await verifyChain(t.db, gone, undefined, { serverSecret: SERVER_SECRET }),
        ).toMatchObject({
          ok: false,
          brokenAt: { seq: 7, reason: expect.stringContaining('expected seq 1') },
        });
      });

      it('tampering before the checkpoint is found: the sweep refuses to prune it away', async () => {
        const id = await prunedTenant();
        await t.asOwner((q) =>
          q.query(`UPDATE audit_events SET details = '{"i":42}' WHERE tenant_id = $1 AND seq = 3`, [
            id,
          ]),
        );
        const result = await auditSweep(id, 40);
        expect(result).toMatchObject({ audit: { deleted: 0, refused: { seq: 3 } } });
        const { rows } = await t.asOwner((q) =>
          q.query<{ n: string }>(
            'SELECT count(*) AS n FROM audit_events WHERE tenant_id = $1 AND seq <= 6',
            [id],
          ),
        );
        expect(Number(rows[0]?.n)).toBe(6);
        expect(
          await verifyChain(t.db, id, undefined, { serverSecret: SERVER_SECRET }),
        ).toMatchObject({
          ok: false,
          brokenAt: { seq: 3 },
        });
        const refused = await app.metrics.registry.getSingleMetricAsString(
          'rampart_audit_prune_refused_total',
        );
        expect(refused).toMatch(/rampart_audit_prune_refused_total [1-9]/);
      });

      it('never prunes past an event naming a held user, nor below the operator floor', async () => {
        const held = randomUUID();
        const { rows } = await t.asOwner((q) =>
          q.query<{ id: string }>(
            `INSERT INTO tenants (slug, name) VALUES ($1, 'x') RETURNING id`,
            [`aud-${randomUUID().slice(0, 12)}`],
          ),
        );
        const id = rows[0]?.id ?? '';
        await backdatedEvents(t, id, 6, 400, (seq) => (seq === 4 ? held : `key-${seq}`));
        await backdatedEvents(t, id, 2, 100); // inside the floor (365 days)
        await freshEvents(t, id, 1);
        await t.asOwner((q) =>
          q.query(
            `INSERT INTO legal_holds (tenant_id, scope, subject_id, reason, created_by) VALUES ($1, 'user', $2, 'x', 'test')`,
            [id, held],
          ),
        );
        expect(await auditSweep(id, 50)).toEqual({ audit: { deleted: 3 } });
        await t.asOwner((q) => q.query(`DELETE FROM legal_holds WHERE tenant_id = $1`, [id]));
        // Without the hold, up to the floor: events 4..6 (400 days), not 7..8 (100 days).
        expect(await auditSweep(id, 51)).toEqual({ audit: { deleted: 3 } });
        expect(
          await verifyChain(t.db, id, undefined, { serverSecret: SERVER_SECRET }),
        ).toMatchObject({
          ok: true,
          checkpoint: { seq: 6 },
        });
      });

      it('finds a held person by their audit pseudonym too (events name people by pseudonym)', async () => {
        const held = randomUUID();
        const pseudonym = `psn:${randomUUID().replaceAll('-', '')}`;
        const { rows } = await t.asOwner((q) =>
          q.query<{ id: string }>(
            `INSERT INTO tenants (slug, name) VALUES ($1, 'x') RETURNING id`,
            [`aud-${randomUUID().slice(0, 12)}`],
          ),
        );
        const id = rows[0]?.id ?? '';
        await t.asOwner((q) =>
          q.query(
            `INSERT INTO audit_subject_keys (tenant_id, kind, subject, pseudonym, key)
             VALUES ($1, 'user', $2, $3, '\\x00')`,
            [id, held, pseudonym],
          ),
        );
        await backdatedEvents(t, id, 6, 400, (seq) => (seq === 3 ? pseudonym : `key-${seq}`));
        await freshEvents(t, id, 1);
        await t.asOwner((q) =>
          q.query(
            `INSERT INTO legal_holds (tenant_id, scope, subject_id, reason, created_by) VALUES ($1, 'user', $2, 'x', 'test')`,
            [id, held],
          ),
        );
        // Events 1 and 2 go; event 3 names the held person by pseudonym and stops the pruning.
        expect(await auditSweep(id, 60)).toEqual({ audit: { deleted: 2 } });
      });
    });
  },
);
