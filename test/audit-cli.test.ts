import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_HEAD_MESSAGE, headSignatureValid, type SignedHead } from '../src/audit/head.js';
import { GENESIS_HASH, canonicalJson, canonicalTime, hashEvent } from '../src/audit/chain.js';
import { cliFixture, runCli, type CliFixture } from './helpers/cli.js';
import { createTestApp, SERVER_SECRET } from './helpers/app.js';
import { testDrivers } from './helpers/db.js';

describe.each(testDrivers())('rampart audit verify (%s)', (driver) => {
  let f: CliFixture;
  let slug: string;
  /** The signed head lines the app logged for the tenant, oldest first. */
  let heads: SignedHead[];
  let secondSlug: string;

  beforeAll(async () => {
    f = await cliFixture(driver);
    ({ slug, heads } = await f.use(async (db) => {
      const app = await createTestApp(db);
      let closed = false;
      try {
        const tenant = await app.createTenant();
        // A third event: a key created by the owner.
        const res = await app.app.inject({
          method: 'POST',
          url: '/v1/api-keys',
          headers: { authorization: `Bearer ${tenant.ownerKey}` },
          payload: { name: 'cli', role: 'viewer' },
        });
        expect(res.statusCode, res.body).toBe(201);
        // A second tenant of three events for the truncation test.
        const second = await app.createTenant();
        await app.app.inject({
          method: 'POST',
          url: '/v1/api-keys',
          headers: { authorization: `Bearer ${second.ownerKey}` },
          payload: { name: 'cli', role: 'viewer' },
        });
        // Head lines follow appends; closing the app publishes what is still pending.
        await app.close();
        closed = true;
        const lines = app.logs
          .parsed()
          .filter((l) => l.msg === AUDIT_HEAD_MESSAGE)
          .map((l) => l.auditHead as SignedHead);
        secondSlug = second.slug;
        return { slug: tenant.slug, heads: lines.filter((h) => h.tenantId === second.id) };
      } finally {
        if (!closed) await app.close();
      }
    }));
  });
  afterAll(async () => {
    await f?.close();
  });

  it('exits 0 on an intact chain, then 1 after tampering, naming the broken event', async () => {
    const intact = await runCli(['audit', 'verify', '--tenant', slug], f.env);
    expect(intact.stderr).toBe('');
    expect(intact.stdout).toMatch(
      new RegExp(`audit chain of ${slug}: OK, 3 events, head [0-9a-f]{64}`),
    );
    expect(intact.code).toBe(0);

    await f.use((_db, owner) =>
      owner.query(
        `UPDATE audit_events SET details = details || '{"role":"owner"}'
          WHERE seq = 3 AND tenant_id = (SELECT id FROM tenants WHERE slug = $1)`,
        [slug],
      ),
    );
    const broken = await runCli(['audit', 'verify', '--tenant', slug], f.env);
    expect(broken.stdout).toMatch(
      new RegExp(
        `audit chain of ${slug}: BROKEN at event seq 3 .*altered.*; 2 events before it verified`,
      ),
    );
    expect(broken.code).toBe(1);
    // Two CLI processes each open the data directory: minutes on a loaded 2-core machine.
  }, 240_000);

  it('logs a signed chain head; --expect-head passes while the chain holds it, exits 1 once the newest events are deleted', async () => {
    const last = heads.at(-1) as SignedHead;
    expect(last).toMatchObject({ seq: 3, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(headSignatureValid(SERVER_SECRET, last)).toBe(true);
    expect(headSignatureValid(`${SERVER_SECRET}-other`, last)).toBe(false);
    expect(headSignatureValid(SERVER_SECRET, { ...last, seq: 2 })).toBe(false);

    const untampered = await runCli(
      ['audit', 'verify', '--tenant', secondSlug, '--expect-head', `3:${last.hash}`],
      f.env,
    );
    expect(untampered.stdout).toMatch(new RegExp(`: OK, 3 events, head ${last.hash}`));
    expect(untampered.code).toBe(0);

    // The newest event goes, as an owner covering their tracks would do it.
    await f.use((_db, owner) =>
      owner.query(
        'DELETE FROM audit_events WHERE seq = 3 AND tenant_id = (SELECT id FROM tenants WHERE slug = $1)',
        [secondSlug],
      ),
    );
    const plain = await runCli(['audit', 'verify', '--tenant', secondSlug], f.env);
    expect(plain.code).toBe(0); // what the chain alone can tell
    const truncated = await runCli(
      ['audit', 'verify', '--tenant', secondSlug, '--expect-head', last.hash],
      f.env,
    );
    expect(truncated.stdout).toContain(`audit chain of ${secondSlug}: TRUNCATED`);
    expect(truncated.stdout).toContain(`${last.hash} is not in it; the chain ends after 2 events`);
    expect(truncated.code).toBe(1);
  }, 240_000);

  it('exits 2 without --tenant, or with a malformed --expect-head', async () => {
    const missing = await runCli(['audit', 'verify'], f.env);
    expect(missing.stderr).toContain('audit verify needs --tenant <slug>');
    expect(missing.code).toBe(2);
    const malformed = await runCli(
      ['audit', 'verify', '--tenant', slug, '--expect-head', 'abc'],
      f.env,
    );
    expect(malformed.stderr).toContain('--expect-head must be a chain head hash');
    expect(malformed.code).toBe(2);
  }, 240_000);

  it('exits 2 with a clear message for an unknown slug', async () => {
    const res = await runCli(['audit', 'verify', '--tenant', 'no-such-tenant'], f.env);
    expect(res.stderr).toContain("no tenant with slug 'no-such-tenant'");
    expect(res.stdout).toBe('');
    expect(res.code).toBe(2);
  });

  it.runIf(driver === 'postgres')(
    'exits 3, not 1, when it cannot verify at all (database unreachable)',
    async () => {
      const url = new URL(f.env.DATABASE_URL as string);
      url.pathname = '/rampart_no_such_database';
      const res = await runCli(['audit', 'verify', '--tenant', slug], {
        ...f.env,
        DATABASE_URL: url.toString(),
      });
      expect(res.stderr).toContain('audit verify could not run');
      expect(res.stdout).toBe('');
      expect(res.code).toBe(3);
    },
  );
  it('continues from the signed checkpoint of a chain pruned by retention; tampering after it exits 1', async () => {
    const pruned = await f.use(async (db, owner) => {
      const app = await createTestApp(db);
      try {
        const tenant = await app.createTenant();
        // The owner rewrites the chain as if the tenant had existed for years: four events 400
        // days old, then two recent ones.
        await owner.query('DELETE FROM audit_events WHERE tenant_id = $1', [tenant.id]);
        let prev = GENESIS_HASH;
        for (let seq = 1; seq <= 6; seq++) {
          const f0 = {
            tenantId: tenant.id,
            seq,
            occurredAt: canonicalTime(
              new Date(Date.now() - (seq <= 4 ? 400 : 0) * 86_400_000 + seq),
            ),
            actorType: 'system',
            actorId: null,
            action: 'price.set',
            targetType: null,
            targetId: null,
            outcome: 'success',
            ip: null,
            requestId: null,
            details: { seq },
            prevHash: prev,
          };
          const hash = hashEvent(f0);
          await owner.query(
            `INSERT INTO audit_events (tenant_id, seq, occurred_at, actor_type, action, outcome, details, prev_hash, hash)
             VALUES ($1, $2, $3::timestamptz, 'system', 'price.set', 'success', $4::jsonb, $5, $6)`,
            [tenant.id, seq, f0.occurredAt, canonicalJson(f0.details), prev, hash],
          );
          prev = hash;
        }
        const { rows } = await owner.query<{ id: string }>(
          `WITH p AS (INSERT INTO retention_policies (tenant_id, data_class, days, updated_by)
                      VALUES ($1, 'audit', 365, 'test'))
           INSERT INTO retention_sweeps (tenant_id, period_start) VALUES ($1, now()) RETURNING id`,
          [tenant.id],
        );
        const result = await app.governance.sweeper.sweep(tenant.id, rows[0]?.id ?? '');
        expect(result).toEqual({ audit: { deleted: 4 } });
        return tenant;
      } finally {
        await app.close();
      }
    });
    const ok = await runCli(['audit', 'verify', '--tenant', pruned.slug], f.env);
    expect(ok.stdout).toMatch(
      new RegExp(
        `audit chain of ${pruned.slug}: OK, 3 events after pruning checkpoint 4:[0-9a-f]{64}`,
      ),
    );
    expect(ok.code).toBe(0);
    await f.use((_db, owner) =>
      owner.query(
        `UPDATE audit_events SET details = '{"seq":99}' WHERE tenant_id = $1 AND seq = 5`,
        [pruned.id],
      ),
    );
    const broken = await runCli(['audit', 'verify', '--tenant', pruned.slug], f.env);
    expect(broken.stdout).toContain(`audit chain of ${pruned.slug}: BROKEN at event seq 5`);
    expect(broken.code).toBe(1);
  }, 300_000);
});
