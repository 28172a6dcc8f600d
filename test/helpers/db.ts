import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { Database } from '../../src/platform/db/database.js';
import { migrate, type AdminConnection } from '../../src/platform/db/migrator.js';
import { openDatabase, openEmbedded } from '../../src/platform/db/open.js';
import { withAdminClient } from '../../src/platform/db/pg-driver.js';
import {
  openPGlite,
  pgliteAdmin,
  type PGliteTemplate,
} from '../../src/platform/db/pglite-driver.js';
import { APP_ROLE, databaseUrl, ensureAppLogin } from '../../src/platform/db/roles.js';

export type DriverName = 'pglite' | 'postgres';

/** The drivers integration suites run on: embedded always, PostgreSQL when TEST_DATABASE_URL is set. */
export function testDrivers(): DriverName[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || undefined;

export interface TestDatabase {
  driver: DriverName;
  db: Database;
  /** Runs fn as the owning superuser (fixtures and tampering only; requests never do this). */
  asOwner<T>(fn: (q: AdminConnection) => Promise<T>): Promise<T>;
  /** Settings to open more app instances on the same database (PostgreSQL only). */
  settings?: { DATABASE_URL: string; DATABASE_ADMIN_URL: string };
  /** Opens another independent connection pool on the same database, as another replica would. */
  openReplica(): Promise<Database>;
  close(): Promise<void>;
}

const LOGIN_ROLE = 'rampart_test_login';

let template: Promise<PGliteTemplate> | undefined;

/**
 * One compiled PostgreSQL module, file bundle and migrated data directory per test process:
 * every embedded test database starts from a copy of it instead of running initdb and all the
 * migrations again (openEmbedded still runs the migrator, which finds nothing to do).
 */
function pgliteTemplate(): Promise<PGliteTemplate> {
  template ??= (async () => {
    const dist = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
    // The tsconfig's lib declares WebAssembly's types but not its global value.
    const wasm = Reflect.get(globalThis, 'WebAssembly') as {
      compile(bytes: Uint8Array): Promise<WebAssembly.Module>;
    };
    const wasmModule = await wasm.compile(readFileSync(join(dist, 'pglite.wasm')));
    const fsBundle = new Blob([readFileSync(join(dist, 'pglite.data'))]);
    const pg = await openPGlite(undefined, { wasmModule, fsBundle });
    try {
      await migrate(pgliteAdmin(pg));
      return { wasmModule, fsBundle, dataDir: await pg.dumpDataDir('none') };
    } finally {
      await pg.close();
    }
  })();
  return template;
}

/** A fresh, migrated database for one suite: an in-memory PGlite, or a new database on the test server. */
export async function createTestDatabase(driver: DriverName): Promise<TestDatabase> {
  if (driver === 'pglite') {
    const { db, pglite } = await openEmbedded(undefined, { template: await pgliteTemplate() });
    const raw = pglite as NonNullable<typeof pglite>;
    return {
      driver,
      db,
      async asOwner(fn) {
        // Test-only: step out of the application role on the single embedded connection.
        await raw.exec('RESET ROLE');
        try {
          return await fn({
            query: async (text, params) => {
              const r = await raw.query(text, params as unknown[]);
              return { rows: r.rows as never[], rowCount: r.affectedRows ?? r.rows.length };
            },
            exec: (sql) => raw.exec(sql),
          });
        } finally {
          await raw.exec(`SET ROLE ${APP_ROLE}`);
        }
      },
      openReplica: () => Promise.reject(new Error('the embedded database has a single connection')),
      close: () => db.close(),
    };
  }
  const adminUrl = process.env.TEST_DATABASE_URL as string;
  const name = `rampart_t_${randomBytes(6).toString('hex')}`;
  await withAdminClient(adminUrl, (q) => q.exec(`CREATE DATABASE ${name}`));
  const dbAdminUrl = databaseUrl(adminUrl, name);
  await withAdminClient(dbAdminUrl, (q) => migrate(q));
  await withAdminClient(dbAdminUrl, (q) => ensureAppLogin(q, LOGIN_ROLE));
  const appUrl = databaseUrl(adminUrl, name, LOGIN_ROLE);
  const settings = { DATABASE_URL: appUrl, DATABASE_ADMIN_URL: dbAdminUrl };
  const open = async () =>
    (
      await openDatabase({
        ...settings,
        DATABASE_POOL_MAX: 5,
        DATABASE_STATEMENT_TIMEOUT_MS: 30_000,
        RAMPART_DATA_DIR: '/nonexistent',
      })
    ).db;
  const db = await open();
  const replicas: Database[] = [];
  return {
    driver,
    db,
    settings,
    asOwner: (fn) => withAdminClient(dbAdminUrl, fn),
    async openReplica() {
      const r = await open();
      replicas.push(r);
      return r;
    },
    async close() {
      await Promise.all([db, ...replicas].map((d) => d.close().catch(() => undefined)));
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
