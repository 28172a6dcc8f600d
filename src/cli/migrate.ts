import type { Config } from '../config.js';
import { migrateServer, openEmbedded } from '../platform/db/open.js';

/** `rampart migrate`: applies pending migrations to PostgreSQL or the embedded database. */
export async function runMigrate(cfg: Config): Promise<void> {
  const server = cfg.DATABASE_ADMIN_URL ?? cfg.DATABASE_URL;
  const applied = server ? await migrateServer(cfg) : await migrateEmbedded(cfg);
  process.stdout.write(
    applied.length
      ? `applied: ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}\n`
      : 'database is up to date\n',
  );
}

async function migrateEmbedded(cfg: Config) {
  const { db, applied } = await openEmbedded(`${cfg.RAMPART_DATA_DIR}/pgdata`, {
    lockDir: cfg.RAMPART_DATA_DIR,
  });
  await db.close();
  return applied;
}
