/**
 * The `sample` source: the defog `restaurants` database (data/sql-sample, Apache-2.0) in an
 * embedded PGlite, so text-to-SQL works with no database of one's own. It is loaded once per
 * process as the superuser, then reopened from its data directory logged in as
 * `sample_reader`, a role with SELECT only (no TEMPORARY, no CREATE): layer 3 holds here too.
 */
import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import {
  type Catalogue,
  type Connector,
  type ResultSet,
  type SessionLimits,
  NotReadOnlyLogin,
} from './connector.js';
import {
  pgExcessPrivileges,
  pgFailure,
  pgIntrospect,
  resetSession,
  runReadOnly,
  type PgSession,
} from './pg-source-store.js';

const SAMPLE_SQL = new URL('../../data/sql-sample/restaurants.sql', import.meta.url);
/**
 * PGlite cannot change pg_database's ACL (REVOKE TEMPORARY … FROM PUBLIC fails there), so the
 * sample's login keeps TEMPORARY. A temporary table could only hold what the sample already
 * shows, and DISCARD ALL drops it after each query; a real source gets no such exception.
 */
const TEMPORARY = 'TEMPORARY on the database';

export const SAMPLE_TABLES = ['public.geographic', 'public.location', 'public.restaurant'];

async function build(): Promise<PGlite> {
  const admin = new PGlite();
  try {
    await admin.exec(await readFile(SAMPLE_SQL, 'utf8'));
    await admin.exec(`CREATE ROLE sample_reader LOGIN;
      GRANT SELECT ON ALL TABLES IN SCHEMA public TO sample_reader;
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;
      ANALYZE;`);
    const dir = await admin.dumpDataDir('none');
    return new PGlite({ loadDataDir: dir, username: 'sample_reader' });
  } finally {
    await admin.close();
  }
}

function session(db: PGlite): PgSession {
  return {
    async exec(sql) {
      await db.exec(sql);
    },
    async single(sql) {
      // PGlite's query() is the extended protocol: one statement only.
      await db.query(sql);
    },
    async rows(sql, params) {
      const r = await db.query<unknown[]>(sql, params, { rowMode: 'array' });
      return {
        fields: r.fields.map((f) => ({ name: f.name, typeId: f.dataTypeID })),
        rows: r.rows,
      };
    },
  };
}

/** One embedded sample shared by every sample source of the process (it is read-only). */
export class SampleConnector implements Connector {
  readonly dialect = 'postgres' as const;
  #db: Promise<PGlite> | undefined;
  #checked = false;
  // PGlite has one session: uses are serialised so transactions never interleave.
  #queue: Promise<unknown> = Promise.resolve();

  async #use<T>(fn: (s: PgSession) => Promise<T>, limits?: SessionLimits): Promise<T> {
    this.#db ??= build();
    const db = await this.#db;
    const s = session(db);
    const run = async (): Promise<T> => {
      if (!this.#checked) {
        const excess = (await pgExcessPrivileges(s)).filter((p) => p !== TEMPORARY);
        if (excess.length > 0) throw new NotReadOnlyLogin(excess);
        this.#checked = true;
      }
      try {
        return await fn(s);
      } catch (err) {
        throw err instanceof Error && 'status' in err ? err : pgFailure(err, 'sample', limits);
      } finally {
        await resetSession(s).catch(() => undefined);
      }
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  run(sql: string, limits: SessionLimits, schemas: readonly string[]): Promise<ResultSet> {
    return this.#use((s) => runReadOnly(s, sql, limits, schemas), limits);
  }

  async excessPrivileges(): Promise<string[]> {
    return this.#use(async (s) => (await pgExcessPrivileges(s)).filter((p) => p !== TEMPORARY));
  }

  introspect(
    schemas: readonly string[],
    tables: ReadonlySet<string> | undefined,
  ): Promise<Catalogue> {
    return this.#use(async (s) => {
      await s.exec('BEGIN READ ONLY');
      return pgIntrospect(s, schemas, tables);
    });
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    if (db) await (await db).close();
  }
}
