import type { AdminConnection } from './migrator.js';

/** The role every request runs as: not the owner, not superuser, no BYPASSRLS. Created by migration 0001. */
export const APP_ROLE = 'rampart_app';

/**
 * Creates (once per server) a login that is a member of rampart_app only: what a deployment
 * should serve through, and what tests and benches use so row-level security is paid for as in
 * production. Safe when several processes race to create it.
 */
export async function ensureAppLogin(q: AdminConnection, login: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(login)) throw new Error(`not a plain role name: ${login}`);
  await q.exec(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${login}') THEN
        CREATE ROLE ${login} LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE ${APP_ROLE};
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
}

/** The same server URL pointed at another database (and, if given, another login without password). */
export function databaseUrl(url: string, database: string, login?: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (login) {
    u.username = login;
    u.password = '';
  }
  return u.toString();
}
