import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import type { Driver, Queryable, QueryResult } from './types.js';
import { APP_ROLE } from './roles.js';
import { safeDbError } from './query-error.js';

/** Opens (or creates) an embedded database: `dataDir` on disk, or in memory when undefined. */
/**
 * What many embedded databases in one process can share (the test suites open dozens): the
 * compiled PostgreSQL module, its file bundle, and a data directory already initialised and
 * migrated, so each new database starts from a copy instead of running initdb.
 */
export interface PGliteTemplate {
  wasmModule?: WebAssembly.Module | undefined;
  fsBundle?: Blob | undefined;
  /** A data directory (tar, as dumpDataDir writes it) to start from instead of initdb. */
  dataDir?: Blob | undefined;
}

export async function openPGlite(
  dataDir: string | undefined,
  template?: PGliteTemplate,
): Promise<PGlite> {
  return PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    extensions: { vector },
    ...(template?.wasmModule ? { wasmModule: template.wasmModule } : {}),
    ...(template?.fsBundle ? { fsBundle: template.fsBundle } : {}),
    ...(template?.dataDir ? { loadDataDir: template.dataDir } : {}),
  });
}

function wrap(q: Pick<PGlite, 'query'>): Queryable {
  return {
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      try {
        const res = await q.query<R>(text, params as unknown[] | undefined);
        return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
      } catch (err) {
        // PGlite's error carries the bound `params`; see query-error.ts.
        throw safeDbError(err, text, params);
      }
    },
  };
}

/**
 * The embedded driver. PGlite is one connection whose default user is a superuser, so the
 * session switches to the application role once, after migrations, and never switches back:
 * every request afterwards runs under RLS exactly as it does on PostgreSQL.
 */
export async function createPGliteDriver(pg: PGlite): Promise<Driver> {
  await pg.exec(`SET ROLE ${APP_ROLE}`);
  const self: Driver = {
    kind: 'pglite',
    transaction: (fn) =>
      pg
        .transaction((tx) => fn(wrap(tx)))
        .catch((err: unknown) => {
          throw safeDbError(err);
        }),
    async listen(channel, onMessage) {
      const unsubscribe = await pg.listen(channel, onMessage);
      return unsubscribe;
    },
    poolStats: () => ({ total: 1, idle: 1, waiting: 0 }),
    close: () => pg.close(),
  };
  return self;
}

/** A superuser handle for migrations and test fixtures: the raw PGlite before SET ROLE. */
export function pgliteAdmin(pg: PGlite): Queryable & { exec(sql: string): Promise<unknown> } {
  return { ...wrap(pg), exec: (sql: string) => pg.exec(sql) };
}
