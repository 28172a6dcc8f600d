import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_TENANT_ID, verifyChain } from '../src/audit/service.js';
import { Database } from '../src/platform/db/database.js';
import type { Driver } from '../src/platform/db/types.js';
import { ROOT_TOKEN, createTestApp, type TestApp } from './helpers/app.js';
import {
  TEST_REDIS_URL,
  createTestDatabase,
  testDrivers,
  type TestDatabase,
} from './helpers/db.js';
import { apiClient, eventually } from './helpers/identity-api.js';

/** A Database over the same driver that records every statement it runs. */
function countingDatabase(db: Database): { db: Database; queries: string[] } {
  const queries: string[] = [];
  const d = db.driver;
  const driver: Driver = {
    kind: d.kind,
    transaction: (fn) =>
      d.transaction((tx) =>
        fn({
          query: (text, params) => {
            queries.push(text);
            return tx.query(text, params);
          },
        }),
      ),
    listen: (channel, onMessage, onReset) => d.listen(channel, onMessage, onReset),
    poolStats: () => d.poolStats(),
    close: () => Promise.resolve(),
  };
  return { db: new Database(driver), queries };
}

const madeUpKey = (): string => `rmp_${randomBytes(32).toString('base64url')}`;
/** A key with a real key's prefix and a wrong rest (same shape). */
const samePrefix = (real: string): string =>
  real.slice(0, 12) +
  randomBytes(32)
    .toString('base64url')
    .slice(0, 43 - 8);
/** A client address of its own per test, through X-Forwarded-For (TRUST_PROXY=true). */
const newAddress = (): string => `10.${[1, 2, 3].map(() => randomBytes(1)[0]).join('.')}`;

/** Counters are per minute: start a test's burst well inside one. */
async function awayFromMinuteEdge(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 8000) await sleep(left + 50);
}

interface AuditAggregate {
  ip: string | null;
  actor_type: string;
  details: { reason: string; count: number; samples: { requestId: string }[] };
}

async function aggregatesFrom(t: TestDatabase, ip: string): Promise<AuditAggregate[]> {
  const { rows } = await t.asOwner((q) =>
    q.query<AuditAggregate>(
      `SELECT ip, actor_type, details FROM audit_events
        WHERE tenant_id = $1 AND action = 'auth.unauthenticated' AND ip = $2 ORDER BY seq`,
      [SYSTEM_TENANT_ID, ip],
    ),
  );
  return rows;
}

describe.each(testDrivers())('auth under an unauthenticated flood (%s)', (driver) => {
  let t: TestDatabase;
  let counted: { db: Database; queries: string[] };
  let app: TestApp;
  let call: ReturnType<typeof apiClient>;
  let owner: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    counted = countingDatabase(t.db);
    app = await createTestApp(counted.db, {
      TRUST_PROXY: 'true',
      AUTH_FAILURES_PER_MINUTE: '5',
      AUTH_FAILURES_PER_KEY_PREFIX_PER_MINUTE: '4',
    });
    call = apiClient(app);
    owner = (await app.createTenant()).ownerKey;
    // Batches are written when the test says so, so no background write lands in a count.
    await app.auth.failureAudit.stop();
    // Nor a signed chain head published after an earlier test's audited change.
    await app.auditHeads.stop();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  it('refuses made-up, malformed and missing credentials without a database query', async () => {
    await awayFromMinuteEdge();
    const ip = newAddress();
    counted.queries.length = 0;
    const statuses = [];
    for (const key of [madeUpKey(), madeUpKey(), 'not-a-key', undefined])
      statuses.push((await call('GET', '/v1/me', key, undefined, from(ip))).status);
    expect(statuses).toEqual([401, 401, 401, 401]);
    expect(counted.queries).toEqual([]);
  });

  it('looks up a guessed secret of a real prefix once, then refuses it from memory', async () => {
    await awayFromMinuteEdge();
    const guess = samePrefix(owner);
    counted.queries.length = 0;
    const first = await call('GET', '/v1/me', guess, undefined, from(newAddress()));
    expect(first.status).toBe(401);
    expect(first.body).toMatchObject({ code: 'invalid_credentials' });
    expect(counted.queries.filter((q) => q.includes('rampart_verify_api_key'))).toHaveLength(1);
    counted.queries.length = 0;
    const again = await call('GET', '/v1/me', guess, undefined, from(newAddress()));
    expect(again.status).toBe(401);
    expect(counted.queries).toEqual([]);
  });

  it('accepts a key the moment it is issued (its prefix joins the set)', async () => {
    const r = await call('POST', '/v1/api-keys', owner, { name: 'fresh', role: 'member' });
    expect(r.status).toBe(201);
    const secret = (r.body as { secret: string }).secret;
    expect(app.auth.prefixes.mayExist(secret.slice(0, 12))).toBe(true);
    expect((await call('GET', '/v1/me', secret)).status).toBe(200);
  });

  it('concurrent first requests with one new key share one lookup (no 503 from the budget)', async () => {
    const r = await call('POST', '/v1/api-keys', owner, { name: 'burst', role: 'member' });
    const secret = (r.body as { secret: string }).secret;
    counted.queries.length = 0;
    const statuses = await Promise.all(
      Array.from({ length: 60 }, async () => (await call('GET', '/v1/me', secret)).status),
    );
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(counted.queries.filter((q) => q.includes('rampart_verify_api_key'))).toHaveLength(1);
  });

  it('throttles an address after N failures a minute: 429 with Retry-After, from memory', async () => {
    await awayFromMinuteEdge();
    const ip = newAddress();
    for (let i = 0; i < 5; i++)
      expect((await call('GET', '/v1/me', madeUpKey(), undefined, from(ip))).status).toBe(401);
    const auditedBefore = app.auth.failureAudit.pending;
    counted.queries.length = 0;
    const throttled = await call('GET', '/v1/audit-events', madeUpKey(), undefined, from(ip));
    expect(throttled.status).toBe(429);
    expect(throttled.body).toMatchObject({ code: 'rate_limited' });
    const retryAfter = Number(throttled.res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Even a key the database would have to look up is not looked up.
    expect((await call('GET', '/v1/me', samePrefix(owner), undefined, from(ip))).status).toBe(429);
    expect(counted.queries).toEqual([]);
    expect(app.auth.failureAudit.pending, 'a 429 is not audited one by one').toBe(auditedBefore);
    // Another address is unaffected, and so is a key this process has already verified.
    expect((await call('GET', '/v1/me', madeUpKey(), undefined, from(newAddress()))).status).toBe(
      401,
    );
    expect((await call('GET', '/v1/me', owner, undefined, from(ip))).status).toBe(200);
    // Even once its cache entry is gone: a key verified here stays exempt (looked up again).
    app.auth.cache.clear();
    expect((await call('GET', '/v1/me', owner, undefined, from(ip))).status).toBe(200);
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toMatch(/rampart_auth_throttled_total\{scope="address"\} [1-9]/);
    expect(metrics).toMatch(/rampart_auth_throttled_sources\{scope="address"\} [1-9]/);
    expect(metrics).toMatch(
      /rampart_auth_rejections_total\{reason="unknown_key",answered_from="memory"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /rampart_auth_rejections_total\{reason="throttled",answered_from="memory"\} [1-9]/,
    );
  });

  it('throttles a key prefix guessed from many addresses', async () => {
    await awayFromMinuteEdge();
    const r = await call('POST', '/v1/api-keys', owner, { name: 'target', role: 'member' });
    const real = (r.body as { secret: string }).secret;
    for (let i = 0; i < 4; i++)
      expect(
        (await call('GET', '/v1/me', samePrefix(real), undefined, from(newAddress()))).status,
      ).toBe(401);
    const over = await call('GET', '/v1/me', samePrefix(real), undefined, from(newAddress()));
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ detail: expect.stringContaining('key prefix') });
  });

  it('throttles root-token failures on the operator API too, and audits them', async () => {
    await awayFromMinuteEdge();
    const ip = newAddress();
    const payload = { slug: 'never', name: 'Never' };
    for (let i = 0; i < 5; i++)
      expect(
        (await call('POST', '/admin/v1/tenants', `${ROOT_TOKEN}x`, payload, from(ip))).status,
      ).toBe(401);
    // Checked before the token: a throttled source cannot go on guessing it.
    expect((await call('POST', '/admin/v1/tenants', ROOT_TOKEN, payload, from(ip))).status).toBe(
      429,
    );
    await app.auth.failureAudit.flush();
    const events = await aggregatesFrom(t, ip);
    expect(events.map((e) => [e.details.reason, e.details.count])).toEqual([
      ['invalid_operator_token', 5],
    ]);
  });

  it('audits a flood as a few aggregated events whose counts add up', async () => {
    await awayFromMinuteEdge();
    const ip = newAddress();
    const limited = await createTestApp(counted.db, {
      TRUST_PROXY: 'true',
      AUTH_FAILURES_PER_MINUTE: '1000',
    });
    try {
      const sent: Record<string, number> = {
        unknown_key: 17,
        malformed_credentials: 9,
        missing_credentials: 6,
      };
      const lc = apiClient(limited);
      const kinds: [string, () => string | undefined][] = [
        ['unknown_key', madeUpKey],
        ['malformed_credentials', () => 'junk'],
        ['missing_credentials', () => undefined],
      ];
      for (const [reason, key] of kinds)
        for (let i = 0; i < (sent[reason] ?? 0); i++)
          expect((await lc('GET', '/v1/me', key(), undefined, from(ip))).status).toBe(401);
      expect(await aggregatesFrom(t, ip), 'nothing written on the request path').toEqual([]);
      await limited.auth.failureAudit.flush();
      const events = await aggregatesFrom(t, ip);
      expect(events).toHaveLength(3);
      const byReason = Object.fromEntries(events.map((e) => [e.details.reason, e.details.count]));
      expect(byReason).toEqual(sent);
      for (const e of events) {
        expect(e.actor_type).toBe('anonymous');
        expect(e.details.samples).toHaveLength(3);
      }
      const metrics = await limited.metrics.registry.metrics();
      expect(metrics).toMatch(/rampart_auth_failure_audit_batches_total 1\b/);
      expect(metrics).toMatch(/rampart_auth_failure_audit_failures_total 32\b/);
      const chain = await verifyChain(t.db, SYSTEM_TENANT_ID);
      expect(chain.ok).toBe(true);
    } finally {
      await limited.close();
    }
  });

  it('without TRUST_PROXY, X-Forwarded-For does not pick the address that counts', async () => {
    await awayFromMinuteEdge();
    const direct = await createTestApp(counted.db, { AUTH_FAILURES_PER_MINUTE: '3' });
    try {
      const dc = apiClient(direct);
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          (await dc('GET', '/v1/me', madeUpKey(), undefined, from(newAddress()))).status,
        );
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await direct.close();
    }
  });

  it.runIf(driver === 'postgres')(
    'a request refused while the _system chain is locked does not wait for the lock',
    async () => {
      const ip = newAddress();
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      let locked: () => void = () => undefined;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holder = t.asOwner(async (q) => {
        await q.query(`SELECT pg_advisory_lock(hashtextextended('audit:' || $1, 0))`, [
          SYSTEM_TENANT_ID,
        ]);
        locked();
        await held;
        await q.query(`SELECT pg_advisory_unlock(hashtextextended('audit:' || $1, 0))`, [
          SYSTEM_TENANT_ID,
        ]);
      });
      await isLocked;
      try {
        const answer = await Promise.race([
          call('GET', '/v1/me', madeUpKey(), undefined, from(ip)).then((r) => r.status),
          sleep(10_000).then(() => 'still waiting'),
        ]);
        expect(answer).toBe(401);
      } finally {
        release();
        await holder;
      }
      await app.auth.failureAudit.flush();
      expect((await aggregatesFrom(t, ip)).map((e) => e.details.count)).toEqual([1]);
    },
  );
});

describe.each(testDrivers())('auth across two instances (%s)', (driver) => {
  let t: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  const settings = {
    TRUST_PROXY: 'true',
    AUTH_FAILURES_PER_MINUTE: '5',
    API_KEY_CACHE_TTL_MS: '60000',
  };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    a = await createTestApp(t.db, settings, { redisUrl: TEST_REDIS_URL });
    // On PostgreSQL, B is another pool on the same database, as another replica would be.
    const bDb = driver === 'postgres' ? await t.openReplica() : t.db;
    b = await createTestApp(bDb, settings, { redisUrl: TEST_REDIS_URL });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await t?.close();
  });

  it.runIf(TEST_REDIS_URL !== undefined)(
    'failures counted on one instance throttle the address on the other (Redis)',
    async () => {
      await awayFromMinuteEdge();
      const ip = `10.99.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
      const from = { 'x-forwarded-for': ip };
      for (let i = 0; i < 5; i++)
        expect((await apiClient(a)('GET', '/v1/me', madeUpKey(), undefined, from)).status).toBe(
          401,
        );
      expect((await apiClient(a)('GET', '/v1/me', madeUpKey(), undefined, from)).status).toBe(429);
      // B has seen none of them: its first failure there is counted on top of A's in Redis...
      expect((await apiClient(b)('GET', '/v1/me', madeUpKey(), undefined, from)).status).toBe(401);
      // ...and from then on B answers 429 from memory, after one local failure out of five.
      expect((await apiClient(b)('GET', '/v1/me', madeUpKey(), undefined, from)).status).toBe(429);
    },
  );

  it.runIf(driver === 'postgres')(
    'a key issued on A is accepted on B, and revoked on A is refused on B within 5 s',
    async () => {
      const owner = (await a.createTenant()).ownerKey;
      const created = await apiClient(a)('POST', '/v1/api-keys', owner, {
        name: 'k',
        role: 'member',
      });
      const key = created.body as { id: string; secret: string };
      const accepted = await eventually(
        async () => (await apiClient(b)('GET', '/v1/me', key.secret)).status === 200,
        5000,
      );
      expect(accepted, 'the issued notification reached B').toBe(true);
      expect((await apiClient(a)('DELETE', `/v1/api-keys/${key.id}`, owner)).status).toBe(204);
      const refused = await eventually(
        async () => (await apiClient(b)('GET', '/v1/me', key.secret)).status === 401,
        5000,
      );
      expect(refused).toBe(true);
      // Refused from the negative cache from then on, never accepted again.
      const again = await apiClient(b)('GET', '/v1/me', key.secret);
      expect(again.status).toBe(401);
      expect(again.body).toMatchObject({ detail: 'This API key has been revoked.' });
    },
  );

  it.runIf(driver === 'pglite')('a revoked key is refused at once, and stays refused', async () => {
    const owner = (await a.createTenant()).ownerKey;
    const created = await apiClient(a)('POST', '/v1/api-keys', owner, {
      name: 'k',
      role: 'member',
    });
    const key = created.body as { id: string; secret: string };
    expect((await apiClient(a)('GET', '/v1/me', key.secret)).status).toBe(200);
    expect((await apiClient(a)('DELETE', `/v1/api-keys/${key.id}`, owner)).status).toBe(204);
    for (let i = 0; i < 2; i++)
      expect((await apiClient(a)('GET', '/v1/me', key.secret)).status).toBe(401);
  });
});
