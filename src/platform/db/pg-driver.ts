import pg from 'pg';
import type { Driver, Queryable, QueryResult } from './types.js';
import { APP_ROLE } from './roles.js';
import type { AdminConnection } from './migrator.js';
import { safeDbError } from './query-error.js';

export interface PgDriverOptions {
  connectionString: string;
  poolMax: number;
  statementTimeoutMs: number;
  onError?: (err: Error) => void;
}

function wrap(client: pg.ClientBase): Queryable {
  return {
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      try {
        const res = await client.query(text, params as unknown[] | undefined);
        return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
      } catch (err) {
        throw safeDbError(err, text, params);
      }
    },
  };
}

/**
 * The PostgreSQL driver. Every transaction switches to the application role, so even a login
 * with more rights (a developer's superuser) runs requests under RLS; production logins should
 * be members of rampart_app only (see docs/operations.md).
 */
export function createPgDriver(opts: PgDriverOptions): Driver {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.poolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // Role and timeout are set per transaction (SET LOCAL), in the same round trip as BEGIN: a
  // transaction can never run as the login role, whatever state a pooled connection is in.
  const begin = `BEGIN; SET LOCAL ROLE ${APP_ROLE}; SET LOCAL statement_timeout = ${Math.trunc(opts.statementTimeoutMs)}`;
  pool.on('error', (err) => opts.onError?.(err));

  const listeners = new Set<pg.Client>();

  return {
    kind: 'postgres',
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query(begin);
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr as Error;
        }
        // BEGIN and COMMIT (a deferred constraint) fail with server errors too.
        throw safeDbError(err);
      } finally {
        // A connection that could not roll back is destroyed rather than reused.
        client.release(broken);
      }
    },
    async listen(channel, onMessage, onReset) {
      let closed = false;
      let client: pg.Client | undefined;
      let retryTimer: NodeJS.Timeout | undefined;
      const connect = async (isRetry: boolean): Promise<void> => {
        const c = new pg.Client({ connectionString: opts.connectionString });
        c.on('notification', (msg) => {
          if (msg.channel === channel) onMessage(msg.payload ?? '');
        });
        c.on('error', () => undefined);
        c.on('end', () => {
          listeners.delete(c);
          if (closed) return;
          onReset();
          retryTimer = setTimeout(() => void connect(true).catch(() => undefined), 1000);
        });
        try {
          await c.connect();
          await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        } catch (err) {
          if (!isRetry) closed = true; // the caller gets the error; no background retries
          await c.end().catch(() => undefined);
          if (!isRetry) throw err;
          return;
        }
        client = c;
        listeners.add(c);
        if (isRetry) onReset();
      };
      await connect(false);
      return async () => {
        closed = true;
        if (retryTimer) clearTimeout(retryTimer);
        if (client) await client.end().catch(() => undefined);
      };
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      await Promise.all([...listeners].map((c) => c.end().catch(() => undefined)));
      await pool.end();
    },
  };
}

/** A plain client for migrations and operator tooling (runs as the login's own role). */
export async function withAdminClient<T>(
  connectionString: string,
  fn: (q: AdminConnection) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await fn({ ...wrap(client), exec: (sql: string) => client.query(sql) });
  } finally {
    await client.end();
  }
}
