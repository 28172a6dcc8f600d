/**
 * A tenant's MySQL or MariaDB database. Layer 2: a READ ONLY transaction under
 * max_statement_time (MariaDB) or max_execution_time (MySQL) and lock wait timeouts, rows
 * streamed and cut at limit + 1, then ROLLBACK and COM_RESET_CONNECTION (the server's
 * DISCARD ALL: variables, temporary tables, locks and session settings go). Layer 3: the
 * login's grants are checked on every new connection: only SELECT (and USAGE) may appear.
 */
import mysql, { type FieldPacket, type PoolConnection } from 'mysql2';
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

export interface MysqlConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  ssl: boolean;
}

/** Privileges beyond reading in a login's SHOW GRANTS lines. */
export function excessGrants(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const m = /^GRANT (.+?) ON (.+?) TO /i.exec(line);
    if (!m) {
      // `GRANT role TO user`: a role could carry anything.
      const role = /^GRANT (.+?) TO /i.exec(line);
      if (role && !/^PROXY/i.test(role[1] ?? '')) out.push(`member of role ${role[1] ?? ''}`);
      continue;
    }
    const privileges = (m[1] ?? '').split(',').map((p) => p.trim().toUpperCase());
    for (const p of privileges)
      if (p !== 'SELECT' && p !== 'USAGE' && !p.startsWith('SELECT ('))
        out.push(`${p} on ${m[2] ?? ''}`);
    if (/WITH GRANT OPTION/i.test(line)) out.push(`GRANT OPTION on ${m[2] ?? ''}`);
  }
  return out;
}

function mysqlFailure(err: unknown, source: string, limits?: SessionLimits): Error {
  const e =
    typeof err === 'object' && err !== null ? (err as { errno?: unknown; code?: unknown }) : {};
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (errno === 1969 || errno === 3024 || errno === 1205 || errno === 1317)
    return new SqlTimeout(limits?.statementTimeoutMs ?? 0);
  if (errno === undefined || (code && /^(E[A-Z]+|PROTOCOL_)/.test(code) && !code.startsWith('ER_')))
    return new SourceUnavailable(source, messageOf(err));
  return new SqlExecutionFailed(messageOf(err), code);
}

/** One statement on a connection, rows as arrays. */
function rowsOf(conn: PoolConnection, sql: string, values?: unknown[]): Promise<unknown[][]> {
  return new Promise((resolve, reject) => {
    conn.query({ sql, values, rowsAsArray: true }, (err, rows: unknown) => {
      if (err) reject(err);
      else
        resolve(
          Array.isArray(rows) ? rows.filter((r: unknown): r is unknown[] => Array.isArray(r)) : [],
        );
    });
  });
}

interface Checked {
  mariadb: boolean;
}

export class MysqlConnector implements Connector {
  readonly dialect = 'mysql' as const;
  readonly #pool: mysql.Pool;
  readonly #checked = new WeakMap<PoolConnection, Checked>();

  constructor(
    private readonly name: string,
    c: MysqlConnection,
  ) {
    this.#pool = mysql.createPool({
      host: c.host,
      port: c.port,
      database: c.database,
      user: c.user,
      password: c.password,
      ssl: c.ssl ? {} : undefined,
      connectionLimit: 4,
      connectTimeout: 5_000,
      multipleStatements: false,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
  }

  async #conn(): Promise<{ conn: PoolConnection; info: Checked }> {
    let conn: PoolConnection;
    try {
      conn = await new Promise<PoolConnection>((resolve, reject) =>
        this.#pool.getConnection((err, c) => (err ? reject(err) : resolve(c))),
      );
    } catch (err) {
      throw new SourceUnavailable(this.name, messageOf(err));
    }
    const known = this.#checked.get(conn);
    if (known) return { conn, info: known };
    try {
      const grants = await rowsOf(conn, 'SHOW GRANTS FOR CURRENT_USER()');
      const excess = excessGrants(grants.map((r) => String(r[0])));
      if (excess.length > 0) throw new NotReadOnlyLogin(excess);
      const version = await rowsOf(conn, 'SELECT VERSION()');
      const info = { mariadb: /mariadb/i.test(String(version[0]?.[0])) };
      this.#checked.set(conn, info);
      return { conn, info };
    } catch (err) {
      conn.destroy();
      throw err instanceof NotReadOnlyLogin ? err : mysqlFailure(err, this.name);
    }
  }

  async #use<T>(
    fn: (conn: PoolConnection, info: Checked) => Promise<T>,
    limits?: SessionLimits,
  ): Promise<T> {
    const { conn, info } = await this.#conn();
    try {
      const out = await fn(conn, info);
      // Reset after the answer is on its way; the connection returns to the pool only once
      // it is done (destroyed when it fails), so no caller ever gets it unreset.
      void this.#reset(conn).then(
        () => conn.release(),
        () => conn.destroy(),
      );
      return out;
    } catch (err) {
      const reset = await this.#reset(conn).then(
        () => true,
        () => false,
      );
      if (reset) conn.release();
      else conn.destroy();
      throw err instanceof Error && 'status' in err ? err : mysqlFailure(err, this.name, limits);
    }
  }

  async #reset(conn: PoolConnection): Promise<void> {
    await rowsOf(conn, 'ROLLBACK');
    await new Promise<void>((resolve, reject) =>
      conn.reset((err: unknown) => (err ? reject(err) : resolve())),
    );
  }

  run(sql: string, limits: SessionLimits): Promise<ResultSet> {
    return this.#use(async (conn, info) => {
      const seconds = Math.max(1, Math.ceil(limits.lockTimeoutMs / 1000));
      await rowsOf(
        conn,
        info.mariadb
          ? `SET SESSION max_statement_time = ${limits.statementTimeoutMs / 1000}, lock_wait_timeout = ${seconds}, innodb_lock_wait_timeout = ${seconds}`
          : `SET SESSION max_execution_time = ${Math.floor(limits.statementTimeoutMs)}, lock_wait_timeout = ${seconds}, innodb_lock_wait_timeout = ${seconds}`,
      );
      await rowsOf(conn, 'START TRANSACTION READ ONLY');
      return new Promise<ResultSet>((resolve, reject) => {
        const rows: unknown[][] = [];
        let fields: FieldPacket[] = [];
        const q = conn.query({ sql, rowsAsArray: true });
        q.on('fields', (f: FieldPacket[] | undefined) => {
          // A statement without a result set (SET, …) reports no fields.
          fields = f ?? [];
        });
        q.on('result', (row: unknown) => {
          // Rows past limit + 1 are read off the wire and dropped; the timeout bounds them.
          if (rows.length <= limits.rowLimit && Array.isArray(row)) rows.push(row);
        });
        q.on('error', reject);
        q.on('end', () => {
          const capped = capRows(rows, limits);
          resolve({
            columns: fields.map((f) => ({ name: f.name, type: mysqlType(f.columnType) })),
            ...capped,
          });
        });
      });
    }, limits);
  }

  async excessPrivileges(): Promise<string[]> {
    try {
      const { conn } = await this.#conn();
      conn.release();
      return [];
    } catch (err) {
      if (err instanceof NotReadOnlyLogin) return err.privileges;
      throw err;
    }
  }

  introspect(
    schemas: readonly string[],
    allowed: ReadonlySet<string> | undefined,
  ): Promise<Catalogue> {
    return this.#use(async (conn) => {
      const cols = await rowsOf(
        conn,
        `SELECT c.table_schema, c.table_name, t.table_comment, t.table_rows, c.column_name,
                     c.column_type, c.is_nullable, c.column_comment, c.column_key
              FROM information_schema.columns c
              JOIN information_schema.tables t
                ON t.table_schema = c.table_schema AND t.table_name = c.table_name
              WHERE c.table_schema IN (?) ORDER BY c.table_schema, c.table_name, c.ordinal_position`,
        [schemas],
      );
      const tables = new Map<string, CatalogueTable>();
      for (const [schema, name, comment, rows, col, type, nullable, colComment, key] of cols) {
        const k = `${String(schema)}.${String(name)}`;
        if (allowed && !allowed.has(k)) continue;
        let t = tables.get(k);
        if (!t) {
          t = {
            schema: String(schema),
            name: String(name),
            comment: comment ? String(comment) : undefined,
            rowEstimate: Number(rows ?? 0),
            columns: [],
            primaryKey: [],
            foreignKeys: [],
          };
          tables.set(k, t);
        }
        t.columns.push({
          name: String(col),
          type: String(type),
          nullable: nullable === 'YES',
          comment: colComment ? String(colComment) : undefined,
        });
        if (key === 'PRI') t.primaryKey.push(String(col));
      }
      const fks = await rowsOf(
        conn,
        `SELECT table_schema, table_name, column_name, referenced_table_schema,
                     referenced_table_name, referenced_column_name
              FROM information_schema.key_column_usage
              WHERE table_schema IN (?) AND referenced_table_name IS NOT NULL`,
        [schemas],
      );
      for (const [schema, name, col, rs, rt, rc] of fks) {
        tables.get(`${String(schema)}.${String(name)}`)?.foreignKeys.push({
          columns: [String(col)],
          references: { table: `${String(rs)}.${String(rt)}`, columns: [String(rc)] },
        });
      }
      return { tables: [...tables.values()] };
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#pool.end(() => resolve()));
  }
}

const MYSQL_TYPES: Record<number, string> = {
  0: 'decimal',
  1: 'tinyint',
  2: 'smallint',
  3: 'int',
  4: 'float',
  5: 'double',
  7: 'timestamp',
  8: 'bigint',
  9: 'mediumint',
  10: 'date',
  11: 'time',
  12: 'datetime',
  13: 'year',
  15: 'varchar',
  16: 'bit',
  245: 'json',
  246: 'decimal',
  252: 'text',
  253: 'varchar',
  254: 'char',
};
function mysqlType(t: number | undefined): string {
  return t === undefined ? 'unknown' : (MYSQL_TYPES[t] ?? `type:${t}`);
}
