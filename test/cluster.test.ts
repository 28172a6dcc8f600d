import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, createTestApp, SERVER_SECRET } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import {
  spawnRampart,
  startServe,
  tempDataDir,
  type RampartProcess,
} from './helpers/serve-process.js';

// Real `rampart serve` process groups (a primary and its tsx workers): slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** One request on its own connection, so the cluster hands each to the next worker. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    })
      .once('error', reject)
      .end();
  });
}

interface LogLine {
  msg?: string;
  pid?: number;
  workerPid?: number;
  route?: string;
}

function logLines(p: RampartProcess): LogLine[] {
  return p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Pids of the workers the primary has reported serving, in order. */
function servingPids(p: RampartProcess): number[] {
  return logLines(p)
    .filter((l) => l.msg === 'worker serving')
    .map((l) => l.workerPid as number);
}

/** Pids of the processes that logged a request for the route. */
function answeredBy(p: RampartProcess, route: string): Set<number> {
  return new Set(
    logLines(p)
      .filter((l) => l.msg === 'request' && l.route === route)
      .map((l) => l.pid as number),
  );
}

/** The aggregated request count of GET <route> answered 200, from a /metrics body. */
function requestCount(metrics: string, route: string): number {
  const line = metrics
    .split('\n')
    .find(
      (l) =>
        l.startsWith('rampart_http_request_duration_seconds_count{') &&
        l.includes(`route="${route}"`) &&
        l.includes('method="GET"') &&
        l.includes('status_code="200"'),
    );
  return line ? Number(line.split(' ').pop()) : 0;
}

function dataDir(): string {
  const d = tempDataDir();
  cleanups.push(d.cleanup);
  return d.dir;
}

describe.skipIf(!process.env.TEST_DATABASE_URL)('cluster mode (postgres)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    // One queued document (no job worker runs with DATABASE_URL): the database-wide gauges read 1.
    const app = await createTestApp(t.db);
    try {
      const tenant = await app.createTenant();
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: bearer(tenant.ownerKey),
        payload: { title: 'Depot inventory', text: 'Forty pallets of rope.' },
      });
      expect(res.statusCode).toBe(202);
    } finally {
      await app.close();
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  async function startCluster() {
    const server = await startServe({
      RAMPART_DATA_DIR: dataDir(),
      RAMPART_WORKERS: '2',
      DATABASE_URL: t.settings?.DATABASE_URL as string,
      RAMPART_SECRET_KEY: SERVER_SECRET,
    });
    cleanups.push(() => server.child.kill('SIGKILL'));
    cleanups.push(() => {
      for (const pid of servingPids(server)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
    await server.waitFor(/"msg":"worker serving"[\s\S]*"msg":"worker serving"/);
    return server;
  }

  it('two workers share the port, /metrics counts both, SIGTERM stops the group with exit 0', async () => {
    const server = await startCluster();
    const workers = servingPids(server);
    expect(workers).toHaveLength(2);
    expect(new Set(workers).size).toBe(2);
    expect(workers).not.toContain(server.child.pid);

    const sent = 40;
    const answers = await Promise.all(
      Array.from({ length: sent }, () => get(server.port, '/healthz')),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(sent).fill(200));
    // Both workers answered: each logged some of the requests under its own pid.
    await vi.waitFor(() => {
      const lines = logLines(server).filter((l) => l.msg === 'request' && l.route === '/healthz');
      expect(lines).toHaveLength(sent);
    });
    expect(answeredBy(server, '/healthz')).toEqual(new Set(workers));

    // Whichever worker a scrape lands on, it reports the group's total, not its own share.
    for (let i = 0; i < 4; i++) {
      const m = await get(server.port, '/metrics');
      expect(m.status).toBe(200);
      expect(requestCount(m.body, '/healthz')).toBe(sent);
      // Database-wide gauges are reported once, not once per worker.
      expect(m.body).toMatch(/^rampart_documents\{status="queued"\} 1$/m);
      expect(m.body).toMatch(/^rampart_jobs\{kind="knowledge.ingest",state="queued"\} 1$/m);
    }
    // Log lines reach stdout in blocks, within 100 ms.
    await vi.waitFor(() => expect(answeredBy(server, '/metrics')).toEqual(new Set(workers)));

    // The admin API hint is printed once for the group, not once per worker.
    expect(server.stdout().split('The admin API (/admin/v1) is disabled').length - 1).toBe(1);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const stopped = logLines(server).filter((l) => l.msg === 'stopped');
    // Each worker drained and stopped, then the primary.
    expect(stopped.map((l) => l.pid).sort()).toEqual([...workers, server.child.pid].sort());
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
    expect(server.stderr()).toBe('');
  });

  it('a worker killed outright is replaced; workers whose primary is killed stop', async () => {
    const server = await startCluster();
    const [victim, survivor] = servingPids(server) as [number, number];
    process.kill(victim, 'SIGKILL');
    await server.waitFor(/"msg":"worker exited unexpectedly[^\n]*\n[\s\S]*"msg":"worker serving"/);
    const now = servingPids(server);
    expect(now).toHaveLength(3);
    const replacement = now[2] as number;
    expect(replacement).not.toBe(victim);
    expect(replacement).not.toBe(survivor);
    const exitLine = logLines(server).find((l) => l.msg?.startsWith('worker exited unexpectedly'));
    expect(exitLine).toMatchObject({ workerPid: victim, signal: 'SIGKILL' });

    const answers = await Promise.all(
      Array.from({ length: 10 }, () => get(server.port, '/healthz')),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    await vi.waitFor(() => {
      expect(answeredBy(server, '/healthz')).toEqual(new Set([survivor, replacement]));
    });
    // Metrics are gathered from the live workers only: the dead one's are gone, not awaited.
    const m = await get(server.port, '/metrics');
    expect(m.status).toBe(200);
    expect(requestCount(m.body, '/healthz')).toBe(10);

    // A primary killed outright takes its workers with it (node:cluster exits a worker whose IPC
    // channel closes): none lingers holding the port's connections and database sessions.
    server.child.kill('SIGKILL');
    await server.exited;
    await vi.waitFor(
      () => {
        for (const pid of [survivor, replacement]) expect(() => process.kill(pid, 0)).toThrow();
      },
      { timeout: 15_000, interval: 100 },
    );
  });
});

describe('cluster mode start-up failures', () => {
  it('RAMPART_WORKERS=2 without DATABASE_URL is a configuration error, exit 2', async () => {
    const p = spawnRampart(['serve'], { RAMPART_DATA_DIR: dataDir(), RAMPART_WORKERS: '2' });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(
      /RAMPART_WORKERS: 2 worker processes need DATABASE_URL \(the embedded database can be opened by one process only\)/,
    );
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it('a configuration error found by the workers stops the group at once, exit 2', async () => {
    const p = spawnRampart(['serve'], {
      RAMPART_DATA_DIR: dataDir(),
      RAMPART_WORKERS: '2',
      DATABASE_URL: 'postgres://rampart:db-password-123@127.0.0.1:1/rampart',
    });
    cleanups.push(() => p.child.kill('SIGKILL'));
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/RAMPART_SECRET_KEY: required when DATABASE_URL is set/);
    expect(p.stderr()).toMatch(/rampart: a worker stopped on a configuration error; giving up/);
    // No replacement was started for a failure a replacement would repeat.
    expect(p.stdout()).not.toMatch(/worker exited unexpectedly/);
  });

  it('workers that keep failing at start-up make the primary give up, exit 1', async () => {
    const p = spawnRampart(['serve'], {
      RAMPART_DATA_DIR: dataDir(),
      RAMPART_WORKERS: '2',
      DATABASE_URL: 'postgres://rampart:db-password-123@127.0.0.1:1/rampart',
      RAMPART_SECRET_KEY: SERVER_SECRET,
    });
    cleanups.push(() => p.child.kill('SIGKILL'));
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/^rampart: cannot start: .*ECONNREFUSED/m);
    expect(p.stderr()).toMatch(/rampart: 5 workers in a row exited during start-up .*; giving up/);
    // Replacements came with a growing delay, not in a tight loop.
    const delays = p
      .stdout()
      .split('\n')
      .filter((l) => l.includes('worker exited unexpectedly'))
      .map((l) => (JSON.parse(l) as { restartInMs: number }).restartInMs);
    expect(delays).toEqual([250, 500, 1000, 2000]);
    expect(p.stderr()).not.toContain('db-password-123');
    // Five worker processes start one after another: minutes on a loaded 2-core machine.
  }, 300_000);
});
