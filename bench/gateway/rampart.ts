import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withAdminClient } from '../../src/platform/db/pg-driver.js';
import { APP_ROLE, databaseUrl, ensureAppLogin } from '../../src/platform/db/roles.js';
import { REPO_ROOT, freePort, startProcess, type BenchProcess } from './processes.js';

/** The model the bench asks for: an alias routed to the fake upstream under the same name. */
export const BENCH_MODEL = 'gpt-4o-mini';

/**
 * Limits far above anything the bench can reach, so "all policies on" pays for every check
 * (key and tenant rpm/tpm/concurrency, key and tenant budgets) without ever being refused.
 */
const NEVER_REACHED = {
  rpm: 1_000_000_000,
  tpm: 1_000_000_000_000,
  concurrency: 100_000,
  budgetUsd: 1_000_000,
  budgetPeriod: 'day',
} as const;

/** Where the Rampart processes keep their data. */
export interface BenchDatabase {
  /** Settings for `rampart serve`; empty means each process gets its own embedded PGlite. */
  env: Record<string, string>;
  label: string;
  drop(): Promise<void>;
}

const LOGIN_ROLE = 'rampart_bench_login';

/**
 * With a PostgreSQL URL: a throwaway database on that server, migrated by `rampart migrate`,
 * served through a login that is only a member of rampart_app — so RLS is paid for exactly as
 * in production (a superuser would skip it). The URL's login must be allowed to create
 * databases and roles. Without one: nothing to prepare.
 */
export async function prepareDatabase(adminUrl: string | undefined): Promise<BenchDatabase> {
  if (!adminUrl)
    return { env: {}, label: 'embedded PGlite (one data dir per process)', drop: async () => {} };
  const name = `rampart_bench_${randomBytes(5).toString('hex')}`;
  await withAdminClient(adminUrl, (q) => q.exec(`CREATE DATABASE ${name}`));
  const dbAdminUrl = databaseUrl(adminUrl, name);
  const drop = (): Promise<void> =>
    withAdminClient(adminUrl, (q) => q.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
      () => undefined,
    );
  const migrated = spawnSync(process.execPath, ['bin/rampart.js', 'migrate'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_ADMIN_URL: dbAdminUrl,
    },
    encoding: 'utf8',
  });
  if (migrated.status !== 0) {
    await drop();
    throw new Error(`rampart migrate failed:\n${migrated.stdout}\n${migrated.stderr}`);
  }
  await withAdminClient(dbAdminUrl, (q) => ensureAppLogin(q, LOGIN_ROLE));
  return {
    env: { DATABASE_URL: databaseUrl(adminUrl, name, LOGIN_ROLE) },
    label: `PostgreSQL (throwaway database ${name}, login ${LOGIN_ROLE} in ${APP_ROLE})`,
    drop,
  };
}

/** A running `rampart serve` with a tenant routed to the fake upstream and a key to call it. */
export interface BenchRampart extends BenchProcess {
  apiKey: string;
  ownerKey: string;
}

async function call(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/**
 * Starts `node bin/rampart.js serve` and configures it through the public API, as an operator
 * and a tenant admin would: tenant → provider (the fake upstream) → route → a member key.
 * `policies: 'on'` also sets the key's and the tenant's limits and budgets (never reached).
 */
export async function startRampart(opts: {
  name: string;
  policies: 'off' | 'on';
  upstreamUrl: string;
  database: BenchDatabase;
  redisUrl: string | undefined;
  logLevel: string;
  logDir: string;
  nodeArgs: string[];
  /** Settings for the Rampart processes beyond the bench's own (--rampart-env). */
  settings?: Record<string, string>;
  /** Another checkout whose `bin/rampart.js` to run (--compare), instead of this one. */
  checkout?: string;
  /** RAMPART_WORKERS: serving processes (more than 1 needs a PostgreSQL database). */
  workers?: number;
}): Promise<BenchRampart> {
  const rootToken = randomBytes(24).toString('hex');
  const dataDir = opts.database.env.DATABASE_URL
    ? undefined
    : mkdtempSync(join(tmpdir(), 'rampart-bench-'));
  const removeData = (): void => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const port = await freePort();
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    // Chosen here and probed on /healthz, so readiness does not depend on the log level.
    PORT: String(port),
    LOG_LEVEL: opts.logLevel,
    // The fake upstream is on loopback, which tenant providers may not reach by default.
    OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
    RAMPART_ROOT_TOKEN: rootToken,
    RAMPART_SECRET_KEY: randomBytes(32).toString('hex'),
    RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
    ...opts.database.env,
    ...(dataDir ? { RAMPART_DATA_DIR: dataDir } : {}),
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...(opts.workers ? { RAMPART_WORKERS: String(opts.workers) } : {}),
    ...opts.settings,
  };
  const proc = await startProcess({
    name: opts.name,
    args: [...opts.nodeArgs, 'bin/rampart.js', 'serve'],
    env,
    logDir: opts.logDir,
    ready: { port },
    timeoutMs: 120_000,
    ...(opts.checkout ? { cwd: opts.checkout } : {}),
  }).catch((err: unknown) => {
    removeData();
    throw err;
  });
  // The embedded database of this process goes with it.
  const stopProcess = proc.stop.bind(proc);
  proc.stop = async () => {
    await stopProcess();
    removeData();
  };
  try {
    const slug = `bench-${opts.policies}-${randomBytes(3).toString('hex')}`;
    const tenant = await call(proc.url, rootToken, 'POST', '/admin/v1/tenants', {
      slug,
      name: `Gateway bench (${opts.policies})`,
    });
    const ownerKey = String(tenant.apiKey);
    await call(proc.url, ownerKey, 'POST', '/v1/providers', {
      name: 'fake',
      type: 'openai',
      baseUrl: `${opts.upstreamUrl}/v1`,
      apiKey: 'sk-fake-bench',
    });
    await call(proc.url, ownerKey, 'POST', '/v1/routes', {
      alias: BENCH_MODEL,
      targets: [{ provider: 'fake', model: BENCH_MODEL }],
    });
    if (opts.policies === 'on') await call(proc.url, ownerKey, 'PUT', '/v1/limits', NEVER_REACHED);
    const key = await call(proc.url, ownerKey, 'POST', '/v1/api-keys', {
      name: `bench ${opts.policies}`,
      role: 'member',
      ...(opts.policies === 'on' ? { models: [BENCH_MODEL], limits: NEVER_REACHED } : {}),
    });
    return Object.assign(proc, { apiKey: String(key.secret), ownerKey });
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** Requests the usage ledger holds for the tenant (rows are flushed in the background). */
export async function ledgerRequests(r: BenchRampart): Promise<number> {
  const usage = await call(r.url, r.ownerKey, 'GET', '/v1/usage?groupBy=model');
  const rows = Array.isArray(usage.data) ? (usage.data as { requests?: unknown }[]) : [];
  return rows.reduce((n, row) => n + Number(row.requests ?? 0), 0);
}
