import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db/database.js';
import type { AdminConnection } from '../src/platform/db/migrator.js';
import { openEmbedded } from '../src/platform/db/open.js';
import { APP_ROLE } from '../src/platform/db/roles.js';
import { createWorker } from '../src/jobs.js';
import { bearer, createTestApp, SERVER_SECRET } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const ROOT = join(import.meta.dirname, '..');

/** Runs the real CLI entry point as a child process with exactly the given environment. */
function rampart(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

/** A database the CLI can open from its own process (as in audit-cli.test.ts). */
interface CliFixture {
  env: Record<string, string>;
  use<T>(fn: (db: Database, owner: AdminConnection) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

async function fixture(driver: 'pglite' | 'postgres'): Promise<CliFixture> {
  if (driver === 'postgres') {
    const t: TestDatabase = await createTestDatabase('postgres');
    const settings = t.settings as NonNullable<TestDatabase['settings']>;
    return {
      env: { ...settings, RAMPART_SECRET_KEY: SERVER_SECRET },
      use: (fn) => t.asOwner((owner) => fn(t.db, owner)),
      close: () => t.close(),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'rampart-reconstruct-cli-'));
  return {
    env: { RAMPART_DATA_DIR: dir, RAMPART_SECRET_KEY: SERVER_SECRET },
    async use(fn) {
      const { db, pglite } = await openEmbedded(join(dir, 'pgdata'));
      const raw = pglite as NonNullable<typeof pglite>;
      try {
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
    close: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

describe.each(testDrivers())('rampart audit reconstruct (%s)', (driver) => {
  let f: CliFixture;
  let slug: string;
  let requestId: string;
  let chunkId: string;

  beforeAll(async () => {
    f = await fixture(driver);
    ({ slug, requestId, chunkId } = await f.use(async (db) => {
      const app = await createTestApp(db);
      try {
        const tenant = await app.createTenant();
        const up = await app.app.inject({
          method: 'POST',
          url: '/v1/documents',
          headers: bearer(tenant.ownerKey),
          payload: {
            title: 'Refund policy',
            text: 'Customers may request a refund within 30 days.',
          },
        });
        expect(up.statusCode).toBe(202);
        await createWorker(db, app.config, undefined, app.gateway.calls).drain();
        // Extractive: no model needed; the answer cites the chunk it quotes.
        const res = await app.app.inject({
          method: 'POST',
          url: '/v1/ask',
          headers: bearer(tenant.ownerKey),
          payload: { question: 'When can customers request a refund?', mode: 'extractive' },
        });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json() as { citations: { chunkId: string }[] };
        return {
          slug: tenant.slug,
          requestId: String(res.headers['x-request-id']),
          chunkId: body.citations[0]?.chunkId ?? '',
        };
      } finally {
        await app.close();
      }
    }));
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it('prints the record, then flags the cited chunk once it changed (exit 1)', async () => {
    const clean = await rampart(
      ['audit', 'reconstruct', '--tenant', slug, '--request', requestId],
      f.env,
    );
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain(`request ${requestId} of ${slug} (ask`);
    expect(clean.stdout).toContain('When can customers request a refund?');
    expect(clean.stdout).toContain(`[ok] ${chunkId}`);
    expect(clean.stdout).toContain('cited content: unchanged since the answer');

    await f.use((_db, owner) =>
      owner.query(`UPDATE chunks SET text = 'Never.', content_hash = 'edited' WHERE id = $1`, [
        chunkId,
      ]),
    );
    const flagged = await rampart(
      ['audit', 'reconstruct', '--tenant', slug, '--request', requestId],
      f.env,
    );
    expect(flagged.code, flagged.stderr).toBe(1);
    expect(flagged.stdout).toContain(`[CHANGED] ${chunkId}`);
    expect(flagged.stdout).toContain(`${chunkId} changed`);

    const unknown = await rampart(
      ['audit', 'reconstruct', '--tenant', slug, '--request', 'no-such-request'],
      f.env,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no request record 'no-such-request'");
    // Three CLI processes, each booting the app's modules and opening the database.
  }, 600_000);
});
