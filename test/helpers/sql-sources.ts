/**
 * Source databases for the text-to-SQL suites: the defog databases loaded into fresh databases
 * on the test PostgreSQL server (TEST_DATABASE_URL) or MariaDB (TEST_MYSQL_URL), and a
 * read-only login made with the recipe of docs/sql.md.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { databaseDump } from './text2sql.js';

export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL || undefined;
export const TEST_PG_URL = process.env.TEST_DATABASE_URL || undefined;

function withDatabase(url: string, db: string, user?: string, password?: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  if (user) {
    u.username = user;
    u.password = password ?? '';
  }
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface PgSources {
  /** The database holding a defog set, as the reader login. */
  readerUrl(db: string): string;
  /** The same as the superuser that loaded it. */
  adminUrl(db: string): string;
  reader: { user: string; password: string };
  drop(): Promise<void>;
}

/**
 * Loads the given defog databases into new databases, each with a `secrets` table the reader
 * may not read, and creates a login that may only SELECT (the recipe of docs/sql.md).
 */
export async function loadPgSources(
  adminUrl: string,
  dbs: readonly string[],
  /** The SQL that fills each database (a test's own schema, else the defog dump). */
  dump: (db: string) => string = databaseDump,
): Promise<PgSources> {
  const suffix = randomBytes(4).toString('hex');
  const user = `rampart_reader_${suffix}`;
  const password = randomBytes(12).toString('hex');
  const names = new Map(dbs.map((d) => [d, `rampart_src_${d}_${suffix}`]));
  await withClient(adminUrl, async (c) => {
    await c.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    for (const name of names.values()) await c.query(`CREATE DATABASE ${name}`);
  });
  for (const [db, name] of names)
    await withClient(withDatabase(adminUrl, name), async (c) => {
      await c.query(dump(db));
      await c.query(`CREATE TABLE public.secrets (id int, secret text);
        INSERT INTO public.secrets VALUES (1, 'do not read');
        REVOKE ALL ON DATABASE ${name} FROM PUBLIC;
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT CONNECT ON DATABASE ${name} TO ${user};`);
      const schemas = db === 'ewallet' ? ['public', 'consumer_div'] : ['public'];
      for (const s of schemas)
        await c.query(`GRANT USAGE ON SCHEMA ${s} TO ${user};
          GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${user};`);
      await c.query(`REVOKE SELECT ON public.secrets FROM ${user}`);
    });
  return {
    reader: { user, password },
    readerUrl: (db) => withDatabase(adminUrl, names.get(db) ?? db, user, password),
    adminUrl: (db) => withDatabase(adminUrl, names.get(db) ?? db),
    async drop() {
      await withClient(adminUrl, async (c) => {
        for (const name of names.values())
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${user}`);
      });
    },
  };
}

/** A PostgreSQL dump of the defog set, in MariaDB's dialect (the simple-typed sets only). */
export function mysqlDump(db: string): string {
  return databaseDump(db)
    .replace(/\bpublic\./g, '')
    .replace(/^CREATE SCHEMA.*$/gm, '')
    .replace(/'([^']*)'::\w+/g, "'$1'");
}

export interface MysqlSources {
  database: string;
  readerUrl: string;
  drop(): Promise<void>;
}

/** Loads defog sets into one new MariaDB database and creates a SELECT-only login. */
export async function loadMysqlSources(
  rootUrl: string,
  dbs: readonly string[],
): Promise<MysqlSources> {
  const suffix = randomBytes(4).toString('hex');
  const database = `rampart_src_${suffix}`;
  const user = `reader_${suffix}`;
  const password = randomBytes(12).toString('hex');
  const root = new URL(rootUrl);
  const conn = await mysql.createConnection({
    host: root.hostname,
    port: Number(root.port || 3306),
    user: decodeURIComponent(root.username || 'root'),
    password: decodeURIComponent(root.password),
    multipleStatements: true,
  });
  try {
    await conn.query(`CREATE DATABASE ${database}`);
    await conn.query(`USE ${database}`);
    for (const db of dbs) await conn.query(mysqlDump(db));
    await conn.query(
      `CREATE TABLE secrets (id int, secret text); INSERT INTO secrets VALUES (1, 'do not read');`,
    );
    await conn.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_name <> 'secrets'`,
      [database],
    );
    for (const row of tables)
      await conn.query(`GRANT SELECT ON ${database}.${String(row.t)} TO '${user}'@'%'`);
  } finally {
    await conn.end();
  }
  const reader = new URL(rootUrl);
  reader.username = user;
  reader.password = password;
  reader.pathname = `/${database}`;
  return {
    database,
    readerUrl: reader.toString(),
    async drop() {
      const c = await mysql.createConnection({
        host: root.hostname,
        port: Number(root.port || 3306),
        user: decodeURIComponent(root.username || 'root'),
        password: decodeURIComponent(root.password),
      });
      try {
        await c.query(`DROP DATABASE IF EXISTS ${database}`);
        await c.query(`DROP USER IF EXISTS '${user}'@'%'`);
      } finally {
        await c.end();
      }
    },
  };
}
