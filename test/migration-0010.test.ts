import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadMigrations, migrate, type AdminConnection } from '../src/platform/db/migrator.js';
import { withAdminClient } from '../src/platform/db/pg-driver.js';
import { openPGlite, pgliteAdmin } from '../src/platform/db/pglite-driver.js';
import { databaseUrl } from '../src/platform/db/roles.js';
import { testDrivers, type DriverName } from './helpers/db.js';

/** Runs fn on a fresh, unmigrated database of the driver, as the owner; dropped afterwards. */
async function withBlankDatabase<T>(
  driver: DriverName,
  fn: (admin: AdminConnection) => Promise<T>,
): Promise<T> {
  if (driver === 'pglite') {
    const pg = await openPGlite(undefined);
    try {
      return await fn(pgliteAdmin(pg));
    } finally {
      await pg.close();
    }
  }
  const adminUrl = process.env.TEST_DATABASE_URL as string;
  const name = `rampart_m_${randomBytes(6).toString('hex')}`;
  await withAdminClient(adminUrl, (q) => q.exec(`CREATE DATABASE ${name}`));
  try {
    return await withAdminClient(databaseUrl(adminUrl, name), fn);
  } finally {
    await withAdminClient(adminUrl, (q) => q.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}

describe.each(testDrivers())('migration 0010 carries existing data (%s)', (driver) => {
  it('copies each global display name into every membership, and records known uploaders', async () => {
    await withBlankDatabase(driver, async (admin) => {
      const all = loadMigrations();
      await migrate(
        admin,
        all.filter((m) => m.version < 10),
      );
      const one = async (sql: string, params: unknown[] = []) => {
        const { rows } = await admin.query<{ id: string }>(sql, params);
        const id = rows[0]?.id;
        if (!id) throw new Error(`no row from: ${sql}`);
        return id;
      };
      const tA = await one(`INSERT INTO tenants (slug, name) VALUES ('ta', 'A') RETURNING id`);
      const tB = await one(`INSERT INTO tenants (slug, name) VALUES ('tb', 'B') RETURNING id`);
      const ada = await one(
        `INSERT INTO users (email, display_name) VALUES ('ada@example.com', 'Ada L') RETURNING id`,
      );
      for (const tenant of [tA, tB])
        await admin.query(
          `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member')`,
          [tenant, ada],
        );
      const key = await one(
        `INSERT INTO api_keys (tenant_id, user_id, name, prefix, secret_hash, role, created_by)
         VALUES ($1, $2, 'k', 'rmp_x', '\\x01', 'member', 'test') RETURNING id`,
        [tA, ada],
      );
      const doc = await one(
        `INSERT INTO documents (tenant_id, title, source_type, content_hash, bytes, created_by)
         VALUES ($1, 'Doc', 'text', repeat('a', 64), 1, $2) RETURNING id`,
        [tA, `api_key:${key}`],
      );

      const applied = await migrate(admin, all);
      expect(applied.map((m) => m.version)).toContain(10);

      const names = await admin.query<{ tenant_id: string; display_name: string }>(
        'SELECT tenant_id, display_name FROM memberships WHERE user_id = $1 ORDER BY tenant_id',
        [ada],
      );
      expect(names.rows.map((r) => r.display_name)).toEqual(['Ada L', 'Ada L']);
      const column = await admin.query(
        `SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'display_name'`,
      );
      expect(column.rows, 'the global display name is gone').toEqual([]);
      const uploader = await admin.query<{ uploaded_by_key: string; uploaded_by_user: string }>(
        'SELECT uploaded_by_key, uploaded_by_user FROM documents WHERE id = $1',
        [doc],
      );
      expect(uploader.rows[0]).toEqual({ uploaded_by_key: key, uploaded_by_user: ada });
    });
  });
});
