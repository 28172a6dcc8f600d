import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT_TOKEN, SERVER_SECRET } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { spawnRampart, startServe, tempDataDir } from './helpers/serve-process.js';

// These tests start real `rampart` processes (tsx + embedded Postgres): slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dataDir(): string {
  const d = tempDataDir();
  cleanups.push(d.cleanup);
  return d.dir;
}

function tryConnect(port: number): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    res.on('data', (d: Buffer) => (s += d.toString()));
    res.on('end', () => resolve(s));
    res.on('error', reject);
  });
}

describe.each(testDrivers())('graceful shutdown (%s)', (driver) => {
  let t: TestDatabase | undefined;
  beforeAll(async () => {
    if (driver === 'postgres') t = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('SIGTERM: refuses new connections, finishes the in-flight request, exits 0', async () => {
    const server = await startServe({
      RAMPART_DATA_DIR: dataDir(),
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      SHUTDOWN_TIMEOUT_MS: '20000',
      ...(t?.settings
        ? { DATABASE_URL: t.settings.DATABASE_URL, RAMPART_SECRET_KEY: SERVER_SECRET }
        : {}),
    });
    cleanups.push(() => server.child.kill('SIGKILL'));

    const body = JSON.stringify({ slug: `slow-${Date.now().toString(36)}`, name: 'Slow Body' });
    const half = Math.floor(body.length / 2);
    const req = httpRequest({
      host: '127.0.0.1',
      port: server.port,
      method: 'POST',
      path: '/admin/v1/tenants',
      headers: {
        authorization: `Bearer ${ROOT_TOKEN}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        // The server answers 100 Continue once it has parsed the headers and dispatched the
        // request: proof that the request is in flight before the signal is sent.
        expect: '100-continue',
      },
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    response.catch(() => undefined);
    const continued = new Promise<void>((resolve) => req.once('continue', resolve));
    req.flushHeaders();
    await continued;
    req.write(body.slice(0, half));

    server.child.kill('SIGTERM');
    await server.waitFor(/"msg":"no longer accepting connections/);
    // The listening socket is closed: a new client is refused while the old request is pending.
    expect(await tryConnect(server.port)).toBe('ECONNREFUSED');

    req.end(body.slice(half));
    const res = await response;
    const text = await readBody(res);
    expect(res.statusCode).toBe(201);
    expect(JSON.parse(text)).toMatchObject({ tenant: { name: 'Slow Body' } });

    expect(await server.exited).toBe(0);
    expect(server.stdout()).toMatch(/"msg":"stopped"/);
    expect(server.stderr()).toBe('');
  });
});

describe('process lifecycle', () => {
  it('a keep-alive client does not hold shutdown open', async () => {
    const server = await startServe({
      RAMPART_DATA_DIR: dataDir(),
      SHUTDOWN_TIMEOUT_MS: '60000',
    });
    cleanups.push(() => server.child.kill('SIGKILL'));
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      httpRequest({ host: '127.0.0.1', port: server.port, path: '/healthz', agent }, resolve)
        .once('error', reject)
        .end(),
    );
    expect(res.statusCode).toBe(200);
    await readBody(res);
    server.child.kill('SIGTERM');
    // Exits well before the 60 s shutdown timeout would cut the idle connection.
    expect(await server.exited).toBe(0);
    agent.destroy();
  });

  it('npm start on a fresh data dir serves and says how to enable the admin API', async () => {
    const p = spawnRampart(
      ['start'],
      { RAMPART_DATA_DIR: dataDir(), HOST: '127.0.0.1', PORT: '0' },
      { command: 'npm', detached: true },
    );
    cleanups.push(() => {
      try {
        process.kill(-(p.child.pid as number), 'SIGKILL');
      } catch {
        /* already gone */
      }
    });
    await p.waitFor(/"msg":"rampart serving"/);
    expect(p.stdout()).toContain('The admin API (/admin/v1) is disabled: set RAMPART_ROOT_TOKEN');
    expect(p.stdout()).toMatch(/RAMPART_ROOT_TOKEN=\$\(openssl rand -hex 32\) npm start/);
    process.kill(-(p.child.pid as number), 'SIGTERM');
    await p.exited;
  });

  it('an invalid setting stops start-up with exit code 2, naming the setting', async () => {
    const p = spawnRampart(['serve'], { RAMPART_DATA_DIR: dataDir(), PORT: 'abc' });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/PORT: .*"abc"/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it('an embedding endpoint without a model stops start-up with exit 2, not a stack trace', async () => {
    // Before, this was a plain Error thrown while building the app: a stack trace, exit 1.
    const p = spawnRampart(['serve'], {
      RAMPART_DATA_DIR: dataDir(),
      EMBEDDINGS_BASE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/EMBEDDINGS_MODEL: must be set when EMBEDDINGS_BASE_URL is set/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it('DATABASE_URL without RAMPART_SECRET_KEY stops start-up with a clear message, exit 2', async () => {
    const p = spawnRampart(['serve'], {
      RAMPART_DATA_DIR: dataDir(),
      DATABASE_URL: 'postgres://rampart:db-password-123@127.0.0.1:1/rampart',
    });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/RAMPART_SECRET_KEY: required when DATABASE_URL is set/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
    expect(p.stderr()).not.toContain('db-password-123');
  });

  it('an unreachable database stops start-up with one clear line, exit 1', async () => {
    const p = spawnRampart(['serve'], {
      RAMPART_DATA_DIR: dataDir(),
      DATABASE_URL: 'postgres://rampart:db-password-123@127.0.0.1:1/rampart',
      RAMPART_SECRET_KEY: SERVER_SECRET,
    });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(/^rampart: cannot start: .*ECONNREFUSED/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
    expect(p.stderr()).not.toContain('db-password-123');
  });

  it('a secret setting that is too short is named without its value', async () => {
    const p = spawnRampart(['serve'], {
      RAMPART_DATA_DIR: dataDir(),
      RAMPART_ROOT_TOKEN: 'short-token',
    });
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/RAMPART_ROOT_TOKEN: must be at least 24 characters/);
    expect(p.stderr()).not.toContain('short-token');
  });
});
