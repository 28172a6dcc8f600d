import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrations, migrate, type Migration } from './migrator.js';
import { openPGlite, pgliteAdmin } from './pglite-driver.js';

/**
 * A new embedded database starts from a copy of one already initialised and migrated, made once
 * by `npm install` (scripts/postinstall.js), instead of running initdb and every migration: on
 * a 2-core machine that is most of the first `npm start`. The copy is keyed by the PGlite
 * version and every migration's checksum, so a changed migration or PGlite simply has no
 * template and the database is created the long way; the migrator still runs after a copy is
 * loaded and applies anything newer.
 */
export const TEMPLATE_DIR = fileURLToPath(
  new URL('../../../node_modules/.cache/rampart/', import.meta.url),
);
// (RAMPART_CACHE_DIR moves it; bin/ts-hooks.js keeps transformed sources in its ts/ folder.)

function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  // dist/index.js → the package's own package.json
  const pkg = join(dirname(entry), '..', 'package.json');
  const parsed: unknown = JSON.parse(readFileSync(pkg, 'utf8'));
  return typeof parsed === 'object' && parsed !== null && 'version' in parsed
    ? String(parsed.version)
    : 'unknown';
}

/** Where the template for these migrations and this PGlite lives. */
export function templateFile(migrations: readonly Migration[], dir = TEMPLATE_DIR): string {
  const h = createHash('sha256').update(`pglite ${pgliteVersion()}\n`);
  for (const m of migrations) h.update(`${m.version} ${m.name} ${m.checksum}\n`);
  return join(dir, `pgdata-${h.digest('hex').slice(0, 24)}.tar.gz`);
}

/** The template for `migrations`, if one was built. */
export function readTemplate(
  migrations: readonly Migration[],
  dir = TEMPLATE_DIR,
): Blob | undefined {
  try {
    return new Blob([readFileSync(templateFile(migrations, dir))]);
  } catch {
    return undefined;
  }
}

/** Builds the template for the current migrations (in memory, then written atomically). */
export async function buildTemplate(dir = TEMPLATE_DIR): Promise<string> {
  const migrations = loadMigrations();
  const file = templateFile(migrations, dir);
  if (existsSync(file)) return file;
  const pg = await openPGlite(undefined);
  try {
    await migrate(pgliteAdmin(pg), migrations);
    const tar = await pg.dumpDataDir('gzip');
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, new Uint8Array(await tar.arrayBuffer()));
    renameSync(tmp, file);
    return file;
  } finally {
    await pg.close();
  }
}

/** True when `dataDir` holds no database yet (PostgreSQL writes PG_VERSION first). */
export function isNewDataDir(dataDir: string): boolean {
  return !existsSync(join(dataDir, 'PG_VERSION'));
}
