import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTemplate, templateFile } from '../src/platform/db/embedded-template.js';
import { loadMigrations, migrate } from '../src/platform/db/migrator.js';
import { openEmbedded } from '../src/platform/db/open.js';
import { openPGlite, pgliteAdmin } from '../src/platform/db/pglite-driver.js';

// A new embedded data directory starts from the migrated template `npm install` builds
// (scripts/postinstall.js), keyed by PGlite's version and every migration's checksum.
describe('the embedded database template', () => {
  const root = mkdtempSync(join(tmpdir(), 'rampart-template-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is keyed by every migration: an edited migration has no template', () => {
    const migrations = loadMigrations();
    const edited = migrations.map((m, i) =>
      i === migrations.length - 1 ? { ...m, checksum: `${m.checksum}x` } : m,
    );
    expect(templateFile(migrations, root)).not.toBe(templateFile(edited, root));
    expect(templateFile(migrations, root)).toBe(templateFile(loadMigrations(), root));
  });

  it('builds once; a new data directory is a copy of it, with every migration applied', async () => {
    const dir = join(root, 'cache');
    const file = await buildTemplate(dir);
    expect(readdirSync(dir)).toEqual([file.split('/').pop()]);
    expect(await buildTemplate(dir)).toBe(file);

    // Prove the copy is what a new data directory gets: a template with a marker row in it.
    const marked = await openPGlite(undefined);
    await migrate(pgliteAdmin(marked));
    await marked.query(`INSERT INTO tenants (slug, name) VALUES ('from-template', 'Marker')`);
    writeFileSync(file, new Uint8Array(await (await marked.dumpDataDir('gzip')).arrayBuffer()));
    await marked.close();

    mkdirSync(join(root, 'new'));
    mkdirSync(join(root, 'plain'));
    const fresh = await openEmbedded(join(root, 'new', 'pgdata'), { templateDir: dir });
    try {
      expect(fresh.applied.map((m) => m.version)).toEqual(loadMigrations().map((m) => m.version));
      const raw = fresh.pglite;
      expect(raw).toBeDefined();
      await raw?.exec('RESET ROLE');
      const { rows } = (await raw?.query(
        `SELECT slug FROM tenants WHERE slug = 'from-template'`,
      )) ?? {
        rows: [],
      };
      expect(rows).toHaveLength(1);
    } finally {
      await fresh.db.close();
    }

    // An existing data directory is opened as it is, never overwritten by the template.
    const reopened = await openEmbedded(join(root, 'new', 'pgdata'), { templateDir: dir });
    try {
      expect(reopened.applied).toEqual([]);
    } finally {
      await reopened.db.close();
    }

    // Without a template for these migrations, a new directory is created the long way.
    const plain = await openEmbedded(join(root, 'plain', 'pgdata'), {
      templateDir: join(root, 'empty'),
    });
    try {
      expect(plain.applied.map((m) => m.version)).toEqual(loadMigrations().map((m) => m.version));
      await plain.pglite?.exec('RESET ROLE');
      const { rows } = (await plain.pglite?.query(
        `SELECT slug FROM tenants WHERE slug = 'from-template'`,
      )) ?? { rows: [] };
      expect(rows).toHaveLength(0);
    } finally {
      await plain.db.close();
    }
  }, 180_000);
});
