/**
 * A tenant's PostgreSQL database (and the embedded sample, through the same statements).
 * Layer 2: every query runs in a READ ONLY transaction with statement, lock and idle timeouts
 * and a fixed search_path, through a cursor fetching limit + 1 rows; then ROLLBACK and
 * DISCARD ALL, so nothing the statement did (settings, temp objects, prepared statements,
 * advisory locks, LISTEN) outlives it. Layer 3: the login is checked read-only on every new
 * connection.
 */
import pg from 'pg';
import { pgErrorCode } from '../platform/db/sql.js';
import { messageOf } from '../platform/checked.js';
import {
  capRows,
  NotReadOnlyLogin,
  SourceUnavailable,
  SqlExecutionFailed,
  SqlTimeout,
  type Catalogue,
  type CatalogueTable,
  type Connector,
  type ResultSet,
  type SessionLimits,
} from './connector.js';

/** The statements a connector sends; PGlite and pg both speak them. */
export interface PgSession {
  /** Simple-protocol text (may hold several statements). */
  exec(sql: string): Promise<void>;
  /**
   * Exactly one statement, over the extended protocol, which refuses a second one: the text a
   * caller wrote never travels in a multi-statement simple query, so `…; COMMIT; DELETE …`
   * cannot end the read-only transaction even with layer 1 out of the way.
   */
  single(sql: string): Promise<void>;
  /** One statement; rows as arrays with the columns' type oids. */
  rows(
    sql: string,
    params?: unknown[],
  ): Promise<{ fields: { name: string; typeId: number }[]; rows: unknown[][] }>;
}

const TYPE_NAMES: Record<number, string> = {
  16: 'boolean',
  17: 'bytea',
  20: 'bigint',
  21: 'smallint',
  23: 'integer',
  25: 'text',
  114: 'json',
  700: 'real',
  701: 'double precision',
  1042: 'character',
  1043: 'character varying',
  1082: 'date',
  1083: 'time',
  1114: 'timestamp',
  1184: 'timestamptz',
  1186: 'interval',
  1700: 'numeric',
  2950: 'uuid',
  3802: 'jsonb',
  19: 'name',
  26: 'oid',
};
export const typeName = (oid: number): string => TYPE_NAMES[oid] ?? `oid:${oid}`;

const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** Runs one statement under layer 2 on an open session. */
export async function runReadOnly(
  s: PgSession,
  sql: string,
  limits: SessionLimits,
  schemas: readonly string[],
): Promise<ResultSet> {
  await s.exec(
    `BEGIN READ ONLY;
     SET LOCAL statement_timeout = ${Math.max(1, Math.floor(limits.statementTimeoutMs))};
     SET LOCAL lock_timeout = ${Math.max(1, Math.floor(limits.lockTimeoutMs))};
     SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1, Math.floor(limits.idleTimeoutMs))};
     SET LOCAL search_path = pg_catalog, ${schemas.map(ident).join(', ') || 'public'}`,
  );
  await s.single(`DECLARE rampart_q NO SCROLL CURSOR FOR ${sql}`);
  const r = await s.rows(`FETCH FORWARD ${limits.rowLimit + 1} FROM rampart_q`);
  const { rows, truncated } = capRows(r.rows, limits);
  return {
    columns: r.fields.map((f) => ({ name: f.name, type: typeName(f.typeId) })),
    rows,
    truncated,
  };
}

/** Ends the transaction and resets the session: nothing a statement did outlives it. */
export async function resetSession(s: PgSession): Promise<void> {
  await s.exec('ROLLBACK');
  await s.exec('DISCARD ALL');
}

const WRITE_PRIVILEGES = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];
// Predefined roles that write or reach the server's files and processes.
const DANGEROUS_ROLES = [
  'pg_write_all_data',
  'pg_write_server_files',
  'pg_read_server_files',
  'pg_execute_server_program',
  'pg_signal_backend',
  'pg_checkpoint',
];

/**
 * Every privilege beyond reading that the current login holds, directly or through a role it
 * is a member of (has_*_privilege follows inherited membership; membership without INHERIT is
 * listed on its own, since SET ROLE would reach it).
 */
export async function pgExcessPrivileges(s: PgSession): Promise<string[]> {
  const out: string[] = [];
  const attrs = await s.rows(
    `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls
     FROM pg_catalog.pg_roles WHERE rolname = current_user`,
  );
  const a = attrs.rows[0] ?? [];
  ['SUPERUSER', 'CREATEROLE', 'CREATEDB', 'REPLICATION', 'BYPASSRLS'].forEach((name, i) => {
    if (a[i] === true) out.push(name);
  });
  const tables = await s.rows(
    `SELECT n.nspname || '.' || c.relname, p.priv
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN unnest($1::text[]) AS p(priv)
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
       AND pg_catalog.has_table_privilege(c.oid, p.priv)
     ORDER BY 1, 2 LIMIT 200`,
    [WRITE_PRIVILEGES],
  );
  for (const [table, priv] of tables.rows) out.push(`${String(priv)} on ${String(table)}`);
  const schemas = await s.rows(
    `SELECT nspname FROM pg_catalog.pg_namespace
     WHERE pg_catalog.has_schema_privilege(oid, 'CREATE')
       AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`,
  );
  for (const [schema] of schemas.rows) out.push(`CREATE on schema ${String(schema)}`);
  const db = await s.rows(
    `SELECT pg_catalog.has_database_privilege(current_database(), 'CREATE'),
            pg_catalog.has_database_privilege(current_database(), 'TEMPORARY')`,
  );
  const d = db.rows[0] ?? [];
  if (d[0] === true) out.push('CREATE on the database');
  if (d[1] === true) out.push('TEMPORARY on the database');
  const roles = await s.rows(
    `SELECT r.rolname, r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls
              OR r.rolname = ANY($1::text[])
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                           ON n.oid = c.relnamespace CROSS JOIN unnest($2::text[]) AS p(priv)
                         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
                           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                           AND pg_catalog.has_table_privilege(r.oid, c.oid, p.priv))
     FROM pg_catalog.pg_roles r
     WHERE r.rolname <> current_user AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
     ORDER BY 1`,
    [DANGEROUS_ROLES, WRITE_PRIVILEGES],
  );
  for (const [role, writes] of roles.rows)
    if (writes === true) out.push(`member of role ${String(role)}, which may write`);
  return out;
}

/** Tables, columns, keys, comments, estimates and sample values of the given schemas. */
export async function pgIntrospect(
  s: PgSession,
  schemas: readonly string[],
  allowed: ReadonlySet<string> | undefined,
): Promise<Catalogue> {
  const cols = await s.rows(
    `SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class'), greatest(c.reltuples, 0)::float8,
            a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
            col_description(c.oid, a.attnum)
     FROM pg_catalog.pg_class c
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY($1::text[])
       -- Only what the login may read: a table it cannot SELECT is no use to a query.
       AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
     ORDER BY n.nspname, c.relname, a.attnum`,
    [schemas],
  );
  const tables = new Map<string, CatalogueTable>();
  for (const [schema, name, comment, estimate, col, type, nullable, colComment] of cols.rows) {
    const key = `${String(schema)}.${String(name)}`;
    if (allowed && !allowed.has(key)) continue;
    let t = tables.get(key);
    if (!t) {
      t = {
        schema: String(schema),
        name: String(name),
        comment: typeof comment === 'string' ? comment : undefined,
        rowEstimate: Number(estimate),
        columns: [],
        primaryKey: [],
        foreignKeys: [],
      };
      tables.set(key, t);
    }
    t.columns.push({
      name: String(col),
      type: String(type),
      nullable: nullable === true,
      comment: typeof colComment === 'string' ? colComment : undefined,
    });
  }
  const keys = await s.rows(
    `SELECT n.nspname || '.' || c.relname, k.contype,
            ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
            fn.nspname || '.' || f.relname,
            ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i)
     FROM pg_catalog.pg_constraint k
     JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_class f ON f.oid = k.confrelid
     LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
     WHERE k.contype IN ('p', 'f') AND n.nspname = ANY($1::text[])`,
    [schemas],
  );
  for (const [table, kind, columns, ref, refColumns] of keys.rows) {
    const t = tables.get(String(table));
    if (!t || !Array.isArray(columns)) continue;
    if (kind === 'p') t.primaryKey = columns.map(String);
    else if (Array.isArray(refColumns))
      t.foreignKeys.push({
        columns: columns.map(String),
        references: { table: String(ref), columns: refColumns.map(String) },
      });
  }
  // A few distinct values of short text columns: what a model needs to write WHERE clauses.
  for (const t of tables.values()) {
    if (t.rowEstimate > 1_000_000) continue;
    for (const c of t.columns) {
      if (!/^(text|character varying|character)/.test(c.type)) continue;
      const r = await s.rows(
        `SELECT DISTINCT ${ident(c.name)}::text FROM ${ident(t.schema)}.${ident(t.name)}
         WHERE ${ident(c.name)} IS NOT NULL AND length(${ident(c.name)}) <= 40 LIMIT 11`,
      );
      if (r.rows.length > 0 && r.rows.length <= 10) c.values = r.rows.map((x) => String(x[0]));
    }
  }
  return { tables: [...tables.values()] };
}

/** Maps a server error to the API's: timeout 504, refusal 422, connection 503. */
export function pgFailure(err: unknown, source: string, limits?: SessionLimits): Error {
  const code = pgErrorCode(err);
  if (code === '57014' || code === '55P03') return new SqlTimeout(limits?.statementTimeoutMs ?? 0);
  if (code === undefined || code.startsWith('08') || code === '57P01' || code === '53300')
    return new SourceUnavailable(source, messageOf(err));
  return new SqlExecutionFailed(messageOf(err), code);
}

/** A pg session over one client (pooled, or a test's own). */
export function pgSession(client: pg.ClientBase): PgSession {
  return {
    async exec(sql) {
      await client.query(sql);
    },
    async single(sql) {
      // A variable, not a literal: @types/pg does not declare queryMode, which pg honours.
      const config: pg.QueryConfig & { queryMode: 'extended' } = {
        text: sql,
        queryMode: 'extended',
      };
      await client.query(config);
    },
    async rows(sql, params) {
      const r = await client.query<unknown[]>({ text: sql, values: params, rowMode: 'array' });
      return {
        fields: r.fields.map((f) => ({ name: f.name, typeId: f.dataTypeID })),
        rows: r.rows,
      };
    },
  };
}

export interface PgConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  ssl: boolean;
}

/** A small pool per source; each new connection is checked read-only before its first use. */
export class PostgresConnector implements Connector {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #checked = new WeakSet<pg.PoolClient>();

  constructor(
    private readonly name: string,
    c: PgConnection,
    private readonly timeoutMs: number,
  ) {
    this.#pool = new pg.Pool({
      host: c.host,
      port: c.port,
      database: c.database,
      user: c.user,
      password: c.password,
      ssl: c.ssl ? { rejectUnauthorized: true } : undefined,
      max: 4,
      // Kept warm for five idle minutes: a new connection costs a connect and the read-only check.
      idleTimeoutMillis: 300_000,
      connectionTimeoutMillis: 5_000,
      // The server enforces statement_timeout; this only bounds a silent network.
      query_timeout: timeoutMs + 5_000,
      application_name: 'rampart-sql',
    });
    this.#pool.on('error', () => undefined); // an idle client's failure surfaces on next use
  }

  async #client(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw new SourceUnavailable(this.name, messageOf(err));
    }
    if (!this.#checked.has(client)) {
      let excess: string[];
      try {
        excess = await pgExcessPrivileges(pgSession(client));
      } catch (err) {
        client.release(true);
        throw pgFailure(err, this.name);
      }
      if (excess.length > 0) {
        client.release(true);
        throw new NotReadOnlyLogin(excess);
      }
      this.#checked.add(client);
    }
    return client;
  }

  async #use<T>(fn: (s: PgSession) => Promise<T>, limits?: SessionLimits): Promise<T> {
    const client = await this.#client();
    const s = pgSession(client);
    try {
      const out = await fn(s);
      // The reset runs after the answer is on its way; the connection returns to the pool only
      // once it is done (or is destroyed when it fails), so no caller ever gets it unreset.
      void resetSession(s).then(
        () => client.release(),
        () => client.release(true),
      );
      return out;
    } catch (err) {
      // A connection that cannot be reset is not returned to the pool.
      const reset = await resetSession(s).then(
        () => true,
        () => false,
      );
      client.release(!reset);
      throw err instanceof Error && 'status' in err ? err : pgFailure(err, this.name, limits);
    }
  }

  run(sql: string, limits: SessionLimits, schemas: readonly string[]): Promise<ResultSet> {
    return this.#use((s) => runReadOnly(s, sql, limits, schemas), limits);
  }

  async excessPrivileges(): Promise<string[]> {
    const client = await this.#client().catch((err: unknown) => {
      if (err instanceof NotReadOnlyLogin) return err;
      throw err;
    });
    if (client instanceof NotReadOnlyLogin) return client.privileges;
    client.release();
    return [];
  }

  introspect(
    schemas: readonly string[],
    tables: ReadonlySet<string> | undefined,
  ): Promise<Catalogue> {
    return this.#use(async (s) => {
      await s.exec(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${this.timeoutMs * 4}`);
      return pgIntrospect(s, schemas, tables);
    });
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
