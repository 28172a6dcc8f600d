import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Queryable } from './types.js';

/** An owner-level connection that can run multi-statement SQL. */
export interface AdminConnection extends Queryable {
  exec(sql: string): Promise<unknown>;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));
const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
// Any constant works; it only has to be the same for every migrator of this schema.
const MIGRATION_LOCK = 7_278_691_001;

/** Reads migrations/NNNN_name.sql in version order. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => FILE_RE.test(f))
    .sort()
    .map((file) => {
      const [, v, name] = FILE_RE.exec(file) as RegExpExecArray;
      const sql = readFileSync(`${dir}/${file}`, 'utf8');
      return {
        version: Number(v),
        name: name as string,
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
}

const LEDGER = `CREATE TABLE IF NOT EXISTS rampart_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

export interface MigrationStatus {
  applied: number[];
  pending: Migration[];
  /** Applied migrations whose file changed since: migrations are never edited after landing. */
  modified: number[];
}

/** Compares the ledger with the files; reads only (works as the application role). */
export async function migrationStatus(
  q: Queryable,
  migrations = loadMigrations(),
): Promise<MigrationStatus> {
  const exists = await q.query<{ t: string | null }>(
    `SELECT to_regclass('public.rampart_migrations')::text AS t`,
  );
  const rows = exists.rows[0]?.t
    ? (
        await q.query<{ version: number; checksum: string }>(
          'SELECT version, checksum FROM rampart_migrations',
        )
      ).rows
    : [];
  const byVersion = new Map(rows.map((r) => [Number(r.version), r.checksum]));
  return {
    applied: [...byVersion.keys()].sort((a, b) => a - b),
    pending: migrations.filter((m) => !byVersion.has(m.version)),
    modified: migrations
      .filter((m) => byVersion.has(m.version) && byVersion.get(m.version) !== m.checksum)
      .map((m) => m.version),
  };
}

/** Applies pending migrations in order, each in its own transaction, under a lock so concurrent migrators wait. */
export async function migrate(
  admin: AdminConnection,
  migrations = loadMigrations(),
): Promise<Migration[]> {
  await admin.exec(LEDGER);
  await admin.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    const status = await migrationStatus(admin, migrations);
    if (status.modified.length > 0) {
      throw new Error(
        `applied migrations were edited after landing: ${status.modified.join(', ')}`,
      );
    }
    for (const m of status.pending) {
      await admin.exec('BEGIN');
      try {
        await admin.exec(m.sql);
        await admin.query(
          'INSERT INTO rampart_migrations (version, name, checksum) VALUES ($1, $2, $3)',
          [m.version, m.name, m.checksum],
        );
        await admin.exec('COMMIT');
      } catch (err) {
        await admin.exec('ROLLBACK');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return status.pending;
  } finally {
    await admin.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
