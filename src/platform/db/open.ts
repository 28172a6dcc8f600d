import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { Database } from './database.js';
import { isNewDataDir, readTemplate } from './embedded-template.js';
import { loadMigrations, migrate, type Migration } from './migrator.js';
import {
  createPGliteDriver,
  openPGlite,
  pgliteAdmin,
  type PGliteTemplate,
} from './pglite-driver.js';
import { createPgDriver, withAdminClient } from './pg-driver.js';
import { lockDataDir } from './data-dir-lock.js';

export interface DatabaseSettings {
  DATABASE_URL?: string | undefined;
  DATABASE_ADMIN_URL?: string | undefined;
  DATABASE_POOL_MAX: number;
  DATABASE_STATEMENT_TIMEOUT_MS: number;
  RAMPART_DATA_DIR: string;
  RAMPART_CACHE_DIR?: string | undefined;
}

export interface OpenedDatabase {
  db: Database;
  /** Migrations this call applied (embedded mode migrates on open). */
  applied: Migration[];
  /** The raw embedded instance, for owner-level test fixtures only. */
  pglite?: PGlite;
}

/** Applies pending migrations as the owning role: DATABASE_ADMIN_URL, else DATABASE_URL. */
export async function migrateServer(s: DatabaseSettings): Promise<Migration[]> {
  const url = s.DATABASE_ADMIN_URL ?? s.DATABASE_URL;
  if (!url)
    throw new Error('DATABASE_URL is not set (the embedded database migrates itself on start)');
  return withAdminClient(url, (admin) => migrate(admin));
}

/**
 * Opens an embedded database (in memory when dataDir is undefined), migrated, running as the app
 * role. With `lockDir` (RAMPART_DATA_DIR), the directory is locked to this process until close.
 */
export async function openEmbedded(
  dataDir: string | undefined,
  opts: {
    tracing?: boolean;
    lockDir?: string;
    template?: PGliteTemplate;
    /** Where `npm install` put the migrated template (default: node_modules/.cache/rampart). */
    templateDir?: string;
  } = {},
): Promise<OpenedDatabase> {
  const release = opts.lockDir === undefined ? () => undefined : lockDataDir(opts.lockDir);
  let pg: PGlite | undefined;
  try {
    // A new data directory starts from the migrated template `npm install` built, when there
    // is one for these migrations (embedded-template.ts); its migrations count as applied now.
    const migrations = loadMigrations();
    const copied =
      opts.template === undefined && dataDir !== undefined && isNewDataDir(dataDir)
        ? readTemplate(migrations, opts.templateDir)
        : undefined;
    pg = await openPGlite(dataDir, copied ? { dataDir: copied } : opts.template);
    const applied = await migrate(pgliteAdmin(pg), migrations);
    if (copied) applied.unshift(...migrations.filter((m) => !applied.includes(m)));
    const driver = await createPGliteDriver(pg);
    const locked = {
      ...driver,
      async close() {
        try {
          await driver.close();
        } finally {
          release();
        }
      },
    };
    const db = new Database(locked, opts);
    return { db, applied, pglite: pg };
  } catch (err) {
    await pg?.close().catch(() => undefined);
    release();
    throw err;
  }
}

/** Opens the database the settings describe: PostgreSQL when DATABASE_URL is set, else embedded PGlite. */
export async function openDatabase(
  s: DatabaseSettings,
  opts: { tracing?: boolean; onPoolError?: (err: Error) => void } = {},
): Promise<OpenedDatabase> {
  if (!s.DATABASE_URL) {
    const dir = join(s.RAMPART_DATA_DIR, 'pgdata');
    mkdirSync(dir, { recursive: true });
    return openEmbedded(dir, {
      ...opts,
      lockDir: s.RAMPART_DATA_DIR,
      ...(s.RAMPART_CACHE_DIR ? { templateDir: s.RAMPART_CACHE_DIR } : {}),
    });
  }
  const driver = createPgDriver({
    connectionString: s.DATABASE_URL,
    poolMax: s.DATABASE_POOL_MAX,
    statementTimeoutMs: s.DATABASE_STATEMENT_TIMEOUT_MS,
    ...(opts.onPoolError ? { onError: opts.onPoolError } : {}),
  });
  return { db: new Database(driver, opts), applied: [] };
}
