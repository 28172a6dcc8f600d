import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import {
  TEST_REDIS_URL,
  createTestDatabase,
  testDrivers,
  type TestDatabase,
} from './helpers/db.js';
import { PEOPLE_ENV } from './helpers/people.js';

/** Free failures per client address before sign-in delays start (4 × the account's 5). */
const ADDRESS_FREE = 20;

describe.each(testDrivers())('identity: sign-in throttling across instances (%s)', (driver) => {
  let t: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let alone: TestApp;
  let slug: string;
  const settings = { ...PEOPLE_ENV, TRUST_PROXY: 'true' };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    a = await createTestApp(t.db, settings, { redisUrl: TEST_REDIS_URL });
    // On PostgreSQL, B is another pool on the same database, as another replica would be.
    const bDb = driver === 'postgres' ? await t.openReplica() : t.db;
    b = await createTestApp(bDb, settings, { redisUrl: TEST_REDIS_URL });
    alone = await createTestApp(t.db, settings);
    slug = (await a.createTenant()).slug;
  });
  afterAll(async () => {
    await alone?.close();
    await b?.close();
    await a?.close();
    await t?.close();
  });

  function signIn(app: TestApp, ip: string, n: number) {
    return app.app.inject({
      method: 'POST',
      url: `/auth/${slug}/password`,
      headers: { 'x-forwarded-for': ip },
      payload: { email: `nobody${n}@example.com`, password: 'not the password at all' },
    });
  }

  it.runIf(TEST_REDIS_URL !== undefined)(
    'failed sign-ins from one address on A hold that address off on B (Redis); not on an instance without Redis',
    async () => {
      const ip = `10.77.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
      for (let n = 0; n <= ADDRESS_FREE; n++) expect((await signIn(a, ip, n)).statusCode).toBe(401);
      const onB = await signIn(b, ip, 100);
      expect(onB.statusCode, 'B sees the delay A set').toBe(429);
      expect(Number(onB.headers['retry-after'])).toBeGreaterThan(0);
      // An instance that does not share Redis counts only its own failures.
      expect((await signIn(alone, ip, 101)).statusCode).toBe(401);
      // Another address is not held.
      expect((await signIn(b, `10.79.${randomBytes(1)[0]}.1`, 102)).statusCode).toBe(401);
    },
  );

  it('without Redis, an instance holds off an address after its own failures', async () => {
    const ip = `10.78.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
    for (let n = 0; n <= ADDRESS_FREE; n++)
      expect((await signIn(alone, ip, n)).statusCode).toBe(401);
    expect((await signIn(alone, ip, 200)).statusCode).toBe(429);
  });
});
