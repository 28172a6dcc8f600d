/**
 * Start-up benchmark (issue #22; not a test): wall time from spawning `node bin/rampart.js
 * serve` (what `npm start` runs, without npm's own start-up) on an EMPTY data directory to the
 * first `/readyz` 200, with what `npm install` prepares (the transformed sources and the
 * embedded database's migrated template, in RAMPART_CACHE_DIR) and without it (every source
 * transformed at load, initdb and every migration), interleaved round by round in one run; plus
 * the time a configuration error takes to be reported (exit 2), which loads no server code.
 *
 *   npm run bench:startup -- [--rounds 3]
 *
 * Embedded PGlite only: with DATABASE_URL the database is already initialised and migrated.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(args.rounds);
const REPO = join(import.meta.dirname, '..');
const BIN = join(REPO, 'bin/rampart.js');

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Milliseconds from spawn to /readyz 200 on a new empty data directory. */
async function timeToReady(cacheDir: string): Promise<number> {
  // (An empty cacheDir: nothing prepared, and this run fills only the source cache.)
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-startup-'));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      RAMPART_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      RAMPART_CACHE_DIR: cacheDir,
    },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (res.status === 200) return performance.now() - started;
      } catch {
        // Not listening yet.
      }
      await sleep(20);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function timeToConfigError(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, RAMPART_WORKERS: 'many' },
    stdio: 'ignore',
  });
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 2) throw new Error(`expected exit 2, got ${String(code)}`);
  return performance.now() - started;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
// What `npm install` prepared (scripts/postinstall.js): the repository's own cache.
const warmDir = join(REPO, 'node_modules/.cache/rampart');
if (!existsSync(warmDir)) throw new Error(`${warmDir} is missing: run npm install first`);
await timeToReady(warmDir); // the first process start of this run warms the OS file cache
const warm: number[] = [];
const cold: number[] = [];
const configError: number[] = [];
for (let i = 0; i < rounds; i++) {
  warm.push(await timeToReady(warmDir));
  const coldDir = mkdtempSync(join(tmpdir(), 'rampart-cache-empty-'));
  cold.push(await timeToReady(coldDir));
  rmSync(coldDir, { recursive: true, force: true });
  configError.push(await timeToConfigError());
}
const fmt = (xs: number[]) =>
  `median ${(median(xs) / 1000).toFixed(2)} s  (${xs.map((x) => (x / 1000).toFixed(2)).join(', ')})`;
console.log(
  `start-up on an empty data directory, ${rounds} interleaved rounds, load ${loadavg()[0]?.toFixed(2)}`,
);
console.log(`  serve → /readyz 200, as after npm install:     ${fmt(warm)}`);
console.log(`  serve → /readyz 200, nothing prepared:        ${fmt(cold)}`);
console.log(`  configuration error → exit 2:                 ${fmt(configError)}`);
