import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DATA_DIR_LOCK_FILE } from '../src/platform/db/data-dir-lock.js';
import { spawnRampart, startServe, tempDataDir } from './helpers/serve-process.js';

// Real `rampart` processes on an embedded data directory (the lock is an embedded-mode matter:
// with DATABASE_URL, PostgreSQL serialises its clients itself).
vi.setConfig({ testTimeout: 240_000 });

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function dataDir(): string {
  const d = tempDataDir();
  cleanups.push(d.cleanup);
  return d.dir;
}

/** The pid of a process that has exited (so nothing holds it). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid as number;
}

describe('one process per RAMPART_DATA_DIR', () => {
  it('a second serve (and migrate) on a data dir in use exits 2 naming the holder; a clean stop releases it', async () => {
    const dir = dataDir();
    const first = await startServe({ RAMPART_DATA_DIR: dir });
    cleanups.push(() => first.child.kill('SIGKILL'));
    const pid = first.child.pid as number;
    expect(readFileSync(join(dir, DATA_DIR_LOCK_FILE), 'utf8').trim()).toBe(String(pid));

    const second = spawnRampart(['serve'], { RAMPART_DATA_DIR: dir, PORT: '0' });
    expect(await second.exited).toBe(2);
    expect(second.stderr()).toContain(`is in use by another rampart process (pid ${pid})`);
    expect(second.stderr()).not.toMatch(/\n\s+at /);
    expect(second.stdout()).not.toMatch(/rampart serving/);

    const migrate = spawnRampart(['migrate'], { RAMPART_DATA_DIR: dir });
    expect(await migrate.exited).toBe(2);
    expect(migrate.stderr()).toContain(`(pid ${pid})`);

    // The first one was not disturbed, and releases the directory when it stops.
    const health = await fetch(`${first.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(existsSync(join(dir, DATA_DIR_LOCK_FILE))).toBe(false);
  });

  it('a lock left by a process that is gone is taken over', async () => {
    const dir = dataDir();
    const gone = deadPid();
    writeFileSync(join(dir, DATA_DIR_LOCK_FILE), `${gone}\n`);
    const server = await startServe({ RAMPART_DATA_DIR: dir });
    cleanups.push(() => server.child.kill('SIGKILL'));
    expect(readFileSync(join(dir, DATA_DIR_LOCK_FILE), 'utf8').trim()).toBe(
      String(server.child.pid),
    );
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
