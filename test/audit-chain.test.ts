import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANONICAL_TIME_SQL, hashEvent } from '../src/audit/chain.js';
import { appendAuditEvent, verifyChain, type AuditAction } from '../src/audit/service.js';
import type { ChainRow } from '../src/audit/store.js';
import type { Database } from '../src/platform/db/database.js';
import { pgErrorCode } from '../src/platform/db/sql.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

/** A tenant made directly as the owner: these tests exercise the chain, not the admin API. */
async function newTenant(t: TestDatabase): Promise<string> {
  const slug = `chain-${randomUUID().slice(0, 13)}`;
  const { rows } = await t.asOwner((q) =>
    q.query<{ id: string }>('INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id', [
      slug,
    ]),
  );
  return (rows[0] as { id: string }).id;
}

const ctx = (tenantId: string) => ({ tenantId, userId: null, groups: [] });

async function append(db: Database, tenantId: string, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await db.withTenant(ctx(tenantId), (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'api_key', id: `key-${i}` },
        action: 'price.set',
        target: { type: 'thing', id: String(i) },
        outcome: 'success',
        ip: '192.0.2.1',
        requestId: `req-${i}`,
        details: { i, nested: { b: [1, 'two'], a: null } },
      }),
    );
  }
}

describe.each(testDrivers())('audit hash chain in the database (%s)', (driver) => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('an empty chain and an untouched chain verify', async () => {
    const tenant = await newTenant(t);
    expect(await verifyChain(t.db, tenant)).toEqual({
      ok: true,
      events: 0,
      head: '0'.repeat(64),
    });
    await append(t.db, tenant, 5);
    const { rows } = await t.asOwner((q) =>
      q.query<{ hash: string }>('SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = 5', [
        tenant,
      ]),
    );
    expect(await verifyChain(t.db, tenant)).toEqual({ ok: true, events: 5, head: rows[0]?.hash });
  });

  it('the application role may only INSERT and SELECT audit events', async () => {
    const tenant = await newTenant(t);
    await append(t.db, tenant, 1);
    for (const sql of [
      `UPDATE audit_events SET details = '{"x":1}' WHERE tenant_id = '${tenant}'`,
      `DELETE FROM audit_events WHERE tenant_id = '${tenant}'`,
      'TRUNCATE audit_events',
    ]) {
      const err = await t.db
        .withTenant(ctx(tenant), (tx) => tx.query(sql))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(pgErrorCode(err), sql).toBe('42501'); // insufficient_privilege
    }
    expect((await verifyChain(t.db, tenant)).ok).toBe(true);
  });

  it('the database refuses a fork even from a writer that skips the lock', async () => {
    const tenant = await newTenant(t);
    await append(t.db, tenant, 3);
    const insertRaw = (seq: number, prevSeq: number) =>
      t.db
        .withTenant(ctx(tenant), (tx) =>
          tx.query(
            `INSERT INTO audit_events (tenant_id, seq, occurred_at, actor_type, action, outcome, prev_hash, hash)
             SELECT tenant_id, $2, now(), 'system', 'forged', 'success', hash, repeat('a', 64)
               FROM audit_events WHERE tenant_id = $1 AND seq = $3`,
            [tenant, seq, prevSeq],
          ),
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
    // A second event after seq 2 (same prev_hash as seq 3), and a second seq 3.
    expect(pgErrorCode(await insertRaw(4, 2))).toBe('23505');
    expect(pgErrorCode(await insertRaw(3, 3))).toBe('23505');
    expect(await verifyChain(t.db, tenant)).toMatchObject({ ok: true, events: 3 });
  });

  it('50 concurrent writers in separate transactions (and pools) make one contiguous chain', async () => {
    const tenant = await newTenant(t);
    // On PostgreSQL, three independent pools race as three replicas would; PGlite has one connection.
    const pools =
      driver === 'postgres' ? [t.db, await t.openReplica(), await t.openReplica()] : [t.db];
    const N = 50;
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        (pools[i % pools.length] as Database).withTenant(ctx(tenant), (tx) =>
          appendAuditEvent(tx, {
            actor: { type: 'system', id: null },
            action: 'limits.updated',
            outcome: 'success',
            details: { writer: i },
          }),
        ),
      ),
    );
    expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: N }, (_, i) => i + 1),
    );

    const verdict = await verifyChain(t.db, tenant);
    expect(verdict).toMatchObject({ ok: true, events: N });
    const { rows } = await t.asOwner((q) =>
      q.query<{ n: number; min: number; max: number; prevs: number; writers: number }>(
        `SELECT count(*)::int AS n, min(seq)::int AS min, max(seq)::int AS max,
                count(DISTINCT prev_hash)::int AS prevs, count(DISTINCT details->>'writer')::int AS writers
           FROM audit_events WHERE tenant_id = $1`,
        [tenant],
      ),
    );
    expect(rows[0]).toEqual({ n: N, min: 1, max: N, prevs: N, writers: N });
  });

  describe('tampering as the owner is caught', () => {
    async function chainOf5(): Promise<string> {
      const tenant = await newTenant(t);
      await append(t.db, tenant, 5);
      return tenant;
    }
    const owner = (sql: string, params: unknown[]) => t.asOwner((q) => q.query(sql, params));

    it('an edited detail: broken at that event', async () => {
      const tenant = await chainOf5();
      await owner(
        `UPDATE audit_events SET details = jsonb_set(details, '{i}', '99') WHERE tenant_id = $1 AND seq = 3`,
        [tenant],
      );
      const v = await verifyChain(t.db, tenant);
      expect(v).toMatchObject({ ok: false, events: 2, brokenAt: { seq: 3 } });
      expect('brokenAt' in v ? v.brokenAt.reason : '').toMatch(/altered/);
    });

    it('a deleted middle event: broken at the next one', async () => {
      const tenant = await chainOf5();
      await owner('DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 3', [tenant]);
      const v = await verifyChain(t.db, tenant);
      expect(v).toMatchObject({ ok: false, events: 2, brokenAt: { seq: 4 } });
      expect('brokenAt' in v ? v.brokenAt.reason : '').toMatch(/missing/);
    });

    it('an edit hidden by recomputing its hash: broken at the next event', async () => {
      const tenant = await chainOf5();
      await owner(
        `UPDATE audit_events SET actor_id = 'someone-else' WHERE tenant_id = $1 AND seq = 3`,
        [tenant],
      );
      // Recompute seq 3's own hash exactly as the writer would: its content now verifies.
      const { rows } = await t.asOwner((q) =>
        q.query<ChainRow>(
          `SELECT *, ${CANONICAL_TIME_SQL} AS occurred_at_canonical FROM audit_events WHERE tenant_id = $1 AND seq = 3`,
          [tenant],
        ),
      );
      const r = rows[0] as ChainRow;
      expect(r.actor_id).toBe('someone-else');
      const forged = hashEvent({
        tenantId: tenant,
        seq: 3,
        occurredAt: r.occurred_at_canonical,
        actorType: r.actor_type,
        actorId: r.actor_id,
        action: r.action,
        targetType: r.target_type,
        targetId: r.target_id,
        outcome: r.outcome,
        ip: r.ip,
        requestId: r.request_id,
        details: r.details,
        prevHash: r.prev_hash,
      });
      await owner('UPDATE audit_events SET hash = $2 WHERE tenant_id = $1 AND seq = 3', [
        tenant,
        forged,
      ]);
      const v = await verifyChain(t.db, tenant);
      expect(v).toMatchObject({ ok: false, events: 3, brokenAt: { seq: 4 } });
      expect('brokenAt' in v ? v.brokenAt.reason : '').toMatch(/prev_hash/);
    });

    it('a sub-millisecond change of the event time: broken at that event', async () => {
      const tenant = await chainOf5();
      await owner(
        `UPDATE audit_events SET occurred_at = occurred_at + interval '1 microsecond' WHERE tenant_id = $1 AND seq = 2`,
        [tenant],
      );
      expect(await verifyChain(t.db, tenant)).toMatchObject({ ok: false, brokenAt: { seq: 2 } });
    });

    it('deleting the newest events: intact, but an earlier published head is missing', async () => {
      const tenant = await chainOf5();
      const heads = await owner(
        'SELECT seq, hash FROM audit_events WHERE tenant_id = $1 ORDER BY seq',
        [tenant],
      );
      const head5 = heads.rows[4] as { seq: string; hash: string };
      const head3 = heads.rows[2] as { seq: string; hash: string };
      // Untampered: the published head is there, by hash and by seq:hash.
      expect(await verifyChain(t.db, tenant, { hash: head5.hash })).toMatchObject({
        ok: true,
        events: 5,
      });
      expect(await verifyChain(t.db, tenant, { seq: 5, hash: head5.hash })).toMatchObject({
        ok: true,
      });
      // The right hash claimed at the wrong seq is not that head.
      expect(await verifyChain(t.db, tenant, { seq: 4, hash: head5.hash })).toMatchObject({
        ok: false,
        missingHead: { seq: 4 },
      });

      await owner('DELETE FROM audit_events WHERE tenant_id = $1 AND seq >= 4', [tenant]);
      // The chain alone cannot tell...
      expect(await verifyChain(t.db, tenant)).toMatchObject({ ok: true, events: 3 });
      // ...the published head can.
      expect(await verifyChain(t.db, tenant, { seq: 5, hash: head5.hash })).toEqual({
        ok: false,
        events: 3,
        head: head3.hash,
        missingHead: { seq: 5, hash: head5.hash },
      });
      expect(await verifyChain(t.db, tenant, { hash: head3.hash })).toMatchObject({ ok: true });
    });

    it("another tenant's chain is unaffected", async () => {
      const a = await chainOf5();
      const b = await chainOf5();
      await owner('DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 1', [a]);
      expect((await verifyChain(t.db, a)).ok).toBe(false);
      expect(await verifyChain(t.db, b)).toMatchObject({ ok: true, events: 5 });
    });
  });

  it('any details and strings round-trip through the database and verify (property)', async () => {
    // Strings include NUL and lone surrogates, which Postgres cannot store as given.
    const unit = fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom('\u0000', '\ud800', '\udfff', '😀', '"', '\\') },
      { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    );
    const text = fc.string({ unit, maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(
        fc.jsonValue({ maxDepth: 3, stringUnit: unit }),
        text,
        text,
        async (value, action, actorId) => {
          const tenant = await newTenant(t);
          await t.db.withTenant(ctx(tenant), (tx) =>
            appendAuditEvent(tx, {
              actor: { type: 'user', id: actorId },
              // Arbitrary text on purpose: the chain must store and re-hash any name exactly.
              action: (action || 'x') as AuditAction,
              outcome: 'failure',
              details: { value },
            }),
          );
          expect(await verifyChain(t.db, tenant)).toMatchObject({ ok: true, events: 1 });
        },
      ),
      { numRuns: 40 },
    );
  });
});
