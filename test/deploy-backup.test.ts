// `rampart backup` and `rampart restore --verify`: a dump of a database with tenants and audit
// events is restored into a fresh PostgreSQL database and verified against its manifest
// (migrations, row counts, every audit chain); a tampered restore fails the verification.
// The round trip needs PostgreSQL and pg_dump/pg_restore: it runs when TEST_DATABASE_URL is set.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { withAdminClient } from '../src/platform/db/pg-driver.js';
import { databaseUrl } from '../src/platform/db/roles.js';
import { createTestApp, SERVER_SECRET } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { spawnRampart } from './helpers/serve-process.js';

vi.setConfig({ testTimeout: 120_000 });

async function rampart(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = spawnRampart(args, { LOG_LEVEL: 'warn', ...env });
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

const dir = mkdtempSync(join(tmpdir(), 'rampart-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rampart backup / restore: usage', () => {
  it('backup needs --output, and PostgreSQL', async () => {
    const none = await rampart(['backup'], { RAMPART_DATA_DIR: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--output/);
    const embedded = await rampart(['backup', '--output', join(dir, 'x.dump')], {
      RAMPART_DATA_DIR: dir,
    });
    expect(embedded.code).toBe(2);
    expect(embedded.stderr).toMatch(/needs PostgreSQL.*copy RAMPART_DATA_DIR/);
  });

  it('restore needs --input and a manifest to verify against', async () => {
    expect((await rampart(['restore'], { RAMPART_DATA_DIR: dir })).code).toBe(2);
    const missing = await rampart(['restore', '--input', join(dir, 'none.dump'), '--verify-only'], {
      DATABASE_ADMIN_URL: 'postgres://nobody@127.0.0.1:1/none',
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the manifest/);
  });
});

const postgres = testDrivers().filter((d) => d === 'postgres');

describe.each(postgres)('rampart backup and restore --verify (%s)', (driver) => {
  let t: TestDatabase;
  let fresh = '';
  const dump = join(dir, 'rampart.dump');
  const serverUrl = process.env.TEST_DATABASE_URL ?? '';
  const slugs: string[] = [];
  const restoredEnv = () => ({
    DATABASE_ADMIN_URL: databaseUrl(serverUrl, fresh),
    DATABASE_URL: databaseUrl(serverUrl, fresh, 'rampart_test_login'),
    RAMPART_SECRET_KEY: SERVER_SECRET,
  });

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    const app = await createTestApp(t.db);
    for (let i = 0; i < 2; i += 1) {
      const tenant = await app.createTenant();
      slugs.push(tenant.slug);
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: { authorization: `Bearer ${tenant.ownerKey}` },
        payload: { name: `key ${i}`, role: 'member' },
      });
      expect(res.statusCode).toBe(201);
    }
    await app.close();
    fresh = `rampart_r_${randomBytes(6).toString('hex')}`;
    await withAdminClient(serverUrl, (q) => q.exec(`CREATE DATABASE ${fresh}`));
  });
  afterAll(async () => {
    await withAdminClient(serverUrl, (q) =>
      q.exec(`DROP DATABASE IF EXISTS ${fresh} WITH (FORCE)`),
    );
    await t.close();
  });

  it('backup writes a custom-format dump and a manifest from the same snapshot', async () => {
    const settings = t.settings ?? { DATABASE_URL: '', DATABASE_ADMIN_URL: '' };
    const r = await rampart(['backup', '--output', dump], {
      ...settings,
      RAMPART_SECRET_KEY: SERVER_SECRET,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backup written to .*rampart\.dump/);
    expect(readFileSync(dump).subarray(0, 5).toString()).toBe('PGDMP');
    const manifest = z
      .object({
        migrations: z.array(z.number()),
        tables: z.record(z.string(), z.number()),
        auditHeads: z.array(z.object({ slug: z.string().nullable(), seq: z.number() })),
      })
      .parse(JSON.parse(readFileSync(`${dump}.manifest.json`, 'utf8')));
    expect(manifest.migrations.length).toBeGreaterThan(10);
    expect(manifest.tables.tenants).toBeGreaterThanOrEqual(2);
    expect(manifest.tables.audit_events).toBeGreaterThanOrEqual(4);
    for (const slug of slugs)
      expect(manifest.auditHeads.find((h) => h.slug === slug)?.seq).toBeGreaterThanOrEqual(2);
  });

  it('restore --verify restores into a fresh database and verifies migrations, rows and every audit chain', async () => {
    expect(existsSync(dump)).toBe(true);
    const r = await rampart(['restore', '--input', dump, '--verify'], restoredEnv());
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^migrations: OK, \d+ applied$/m);
    expect(r.stdout).toMatch(/^rows: OK, \d+ tables, \d+ rows$/m);
    for (const slug of slugs)
      expect(r.stdout).toMatch(new RegExp(`^audit chain of ${slug}: OK`, 'm'));
    expect(r.stdout).toMatch(/^restore verified$/m);
    expect(r.code).toBe(0);
  });

  it('refuses to restore over a database that holds a schema', async () => {
    const r = await rampart(['restore', '--input', dump], restoredEnv());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds a Rampart schema/);
  });

  it('--verify-only fails when the restored audit chain lost its newest event', async () => {
    // As the owner, outside the application: delete a tenant's newest audit event.
    await withAdminClient(restoredEnv().DATABASE_ADMIN_URL, (q) =>
      q.query(
        `DELETE FROM audit_events WHERE id = (
           SELECT e.id FROM audit_events e JOIN tenants t ON t.id = e.tenant_id
            WHERE t.slug = $1 ORDER BY e.seq DESC LIMIT 1)`,
        [slugs[0]],
      ),
    );
    const r = await rampart(['restore', '--input', dump, '--verify-only'], restoredEnv());
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^rows: FAILED: audit_events has \d+, backup had \d+$/m);
    expect(r.stdout).toMatch(new RegExp(`^audit chain of ${slugs[0]}: FAILED: TRUNCATED`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^audit chain of ${slugs[1]}: OK`, 'm'));
    expect(r.stdout).toMatch(/^restore verification FAILED$/m);
  });

  it('audit verify --all checks every chain of the database', async () => {
    const settings = t.settings ?? { DATABASE_URL: '', DATABASE_ADMIN_URL: '' };
    const ok = await rampart(['audit', 'verify', '--all'], {
      ...settings,
      RAMPART_SECRET_KEY: SERVER_SECRET,
    });
    expect(ok.stdout).toMatch(/audit chains verified, 0 broken/);
    expect(ok.code).toBe(0);
    // The tampered restore: intact chains that end early still verify (no expected head), so
    // alter an event's contents instead.
    await withAdminClient(restoredEnv().DATABASE_ADMIN_URL, (q) =>
      q.query(
        `UPDATE audit_events SET action = 'tampered' WHERE id = (
           SELECT e.id FROM audit_events e JOIN tenants t ON t.id = e.tenant_id
            WHERE t.slug = $1 ORDER BY e.seq LIMIT 1)`,
        [slugs[1]],
      ),
    );
    const broken = await rampart(['audit', 'verify', '--all'], restoredEnv());
    expect(broken.stdout).toMatch(new RegExp(`audit chain of ${slugs[1]}: BROKEN at event seq 1`));
    expect(broken.code).toBe(1);
  });
});
