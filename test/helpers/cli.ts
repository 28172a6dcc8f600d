import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../../src/platform/db/database.js';
import type { AdminConnection } from '../../src/platform/db/migrator.js';
import { openEmbedded } from '../../src/platform/db/open.js';
import { APP_ROLE } from '../../src/platform/db/roles.js';
import { SERVER_SECRET } from './app.js';
import { createTestDatabase, type TestDatabase } from './db.js';

const ROOT = join(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI entry point as a child process with exactly the given environment. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/rampart.js', ...args], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * One database the CLI can open from its own process: a server database, or an embedded data
 * directory. PGlite data directories are single-process, so the test closes its handle before
 * each CLI run and reopens it afterwards.
 */
export interface CliFixture {
  env: Record<string, string>;
  /** Runs fn with the database open in this process (the app role) and an owner connection for tampering. */
  use<T>(fn: (db: Database, owner: AdminConnection) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function cliFixture(driver: 'pglite' | 'postgres'): Promise<CliFixture> {
  if (driver === 'postgres') {
    const t: TestDatabase = await createTestDatabase('postgres');
    const settings = t.settings as NonNullable<TestDatabase['settings']>;
    return {
      env: { ...settings, RAMPART_SECRET_KEY: SERVER_SECRET },
      use: (fn) => t.asOwner((owner) => fn(t.db, owner)),
      close: () => t.close(),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'rampart-cli-'));
  return {
    env: { RAMPART_DATA_DIR: dir, RAMPART_SECRET_KEY: SERVER_SECRET },
    async use(fn) {
      const { db, pglite } = await openEmbedded(join(dir, 'pgdata'));
      const raw = pglite as NonNullable<typeof pglite>;
      try {
        // Test-only owner access on the single embedded connection, as in helpers/db.ts.
        const owner: AdminConnection = {
          query: async (text, params) => {
            await raw.exec('RESET ROLE');
            try {
              const r = await raw.query(text, params as unknown[]);
              return { rows: r.rows as never[], rowCount: r.affectedRows ?? r.rows.length };
            } finally {
              await raw.exec(`SET ROLE ${APP_ROLE}`);
            }
          },
          exec: (sql) => raw.exec(sql),
        };
        return await fn(db, owner);
      } finally {
        await db.close();
      }
    },
    async close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
