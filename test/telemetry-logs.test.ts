import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BuiltApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/platform/telemetry/logger.js';
import { bearer, LogCapture, ROOT_TOKEN, SERVER_SECRET, uniqueSlug } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const METRICS_TOKEN = 'metrics-token-0123456789';

describe.each(testDrivers())('request logs and secret redaction (%s)', (driver) => {
  let t: TestDatabase;
  let built: BuiltApp;
  const logs = new LogCapture();
  let tenant: { id: string; ownerKey: string };
  let revokedKey: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    const config = loadConfig({
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      RAMPART_SECRET_KEY: SERVER_SECRET,
      METRICS_TOKEN,
      LOG_LEVEL: 'trace',
    });
    const logger = createLogger({
      level: config.LOG_LEVEL,
      secretValues: config.secretValues,
      destination: logs,
    });
    built = await buildApp({ config, db: t.db, logger, serverSecret: SERVER_SECRET });
    // A deliberately careless route: its error message carries credentials, as a driver or
    // upstream error quoting a connection string or header would. The logger must scrub them.
    built.app.post('/test/leaky', async (request) => {
      const body = request.body as { key: string };
      throw new Error(
        `upstream rejected key=${body.key} root=${ROOT_TOKEN} server=${SERVER_SECRET} auth=${String(request.headers.authorization)}`,
      );
    });
    // A statement that fails with a secret-looking parameter, the way a store's insert of an
    // API-key HMAC or a wrapped provider key would: the value must not reach the log.
    built.app.post('/test/db-failure', async (request) => {
      const { kind, value } = request.body as { kind: string; value: string };
      return t.db.withOperator(async (tx) => {
        if (kind === 'cast') return tx.query('SELECT $1::uuid AS id', [value]);
        await tx.query('CREATE TEMP TABLE leak_probe (k text PRIMARY KEY, v text NOT NULL)');
        await tx.query('INSERT INTO leak_probe (k, v) VALUES ($1, $2)', [value, 'x']);
        if (kind === 'unique')
          return tx.query('INSERT INTO leak_probe (k, v) VALUES ($1, $2)', [value, 'y']);
        return tx.query('INSERT INTO leak_probe (k, v) VALUES ($1, NULL)', [`${value}-2`]);
      });
    });
    await built.app.ready();
    const res = await built.app.inject({
      method: 'POST',
      url: '/admin/v1/tenants',
      headers: bearer(ROOT_TOKEN),
      payload: { slug: uniqueSlug(), name: 'Logs' },
    });
    const body = res.json<{ tenant: { id: string }; apiKey: string }>();
    tenant = { id: body.tenant.id, ownerKey: body.apiKey };
    const created = await built.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'doomed', role: 'member' },
    });
    const key = created.json<{ id: string; secret: string }>();
    revokedKey = key.secret;
    await built.app.inject({
      method: 'DELETE',
      url: `/v1/api-keys/${key.id}`,
      headers: bearer(tenant.ownerKey),
    });
  });
  afterAll(async () => {
    await built?.app.close();
    await t?.close();
  });

  function requestLine(reqId: string): Record<string, unknown> {
    const lines = logs.parsed().filter((l) => l.reqId === reqId && l.msg === 'request');
    expect(lines).toHaveLength(1);
    return lines[0] as Record<string, unknown>;
  }

  it('writes one JSON line per request with ids, tenant, route template, status and duration', async () => {
    const created = await built.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'temp', role: 'viewer' },
    });
    const id = created.json<{ id: string }>().id;
    const res = await built.app.inject({
      method: 'DELETE',
      url: `/v1/api-keys/${id}`,
      headers: { ...bearer(tenant.ownerKey), 'x-request-id': 'log-test-req-0001' },
    });
    expect(res.statusCode).toBe(204);
    const line = requestLine('log-test-req-0001');
    expect(line).toMatchObject({
      level: 'info',
      reqId: 'log-test-req-0001',
      tenantId: tenant.id,
      method: 'DELETE',
      route: '/v1/api-keys/:id',
      status: 204,
    });
    expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof line.durationMs).toBe('number');
    expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
    expect(typeof line.time).toBe('string');
  });

  it('takes the trace id from an incoming traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await built.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { ...bearer(tenant.ownerKey), traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.statusCode).toBe(200);
    const line = requestLine(String(res.headers['x-request-id']));
    expect(line.traceId).toBe(traceId);
    expect(line.route).toBe('/v1/me');
  });

  it('unauthenticated and unmatched requests are logged with a null tenant', async () => {
    const res = await built.app.inject({ method: 'GET', url: '/v1/me' });
    expect(res.statusCode).toBe(401);
    expect(requestLine(String(res.headers['x-request-id']))).toMatchObject({
      tenantId: null,
      route: '/v1/me',
      status: 401,
    });
    const lost = await built.app.inject({ method: 'GET', url: '/v1/nowhere/123' });
    expect(requestLine(String(lost.headers['x-request-id']))).toMatchObject({
      route: 'unmatched',
      status: 404,
    });
  });

  it('no secret appears anywhere in the log output', async () => {
    const calls = [
      // the root token, used rightly and wrongly
      { method: 'GET', url: '/v1/me', headers: bearer(ROOT_TOKEN) },
      {
        method: 'POST',
        url: '/admin/v1/tenants',
        headers: bearer(ROOT_TOKEN),
        payload: { slug: uniqueSlug(), name: 'Another' },
      },
      // an API key, used rightly, on the wrong API, and in other headers
      { method: 'GET', url: '/v1/api-keys', headers: bearer(tenant.ownerKey) },
      {
        method: 'POST',
        url: '/admin/v1/tenants',
        headers: bearer(tenant.ownerKey),
        payload: { slug: uniqueSlug(), name: 'Nope' },
      },
      {
        method: 'GET',
        url: '/v1/me',
        headers: { 'x-api-key': tenant.ownerKey, cookie: `k=${tenant.ownerKey}` },
      },
      // a failing authentication with a known (revoked) secret
      { method: 'GET', url: '/v1/me', headers: bearer(revokedKey) },
      // the metrics token, wrong and right
      { method: 'GET', url: '/metrics', headers: bearer(`${METRICS_TOKEN}x`) },
      { method: 'GET', url: '/metrics', headers: bearer(METRICS_TOKEN) },
      // an error whose message quotes every secret at once
      {
        method: 'POST',
        url: '/test/leaky',
        headers: bearer(tenant.ownerKey),
        payload: { key: revokedKey },
      },
    ] as const;
    const statuses: number[] = [];
    for (const c of calls) statuses.push((await built.app.inject(c as never)).statusCode);
    expect(statuses).toEqual([401, 201, 200, 401, 401, 401, 401, 200, 500]);

    const leakyError = logs.parsed().find((l) => l.msg === 'unhandled error');
    expect(leakyError).toBeDefined();
    const err = leakyError?.err as { message: string; stack: string };
    // The scrubber did its work on a line that really carried the secrets.
    expect(err.message).toContain('upstream rejected key=rmp_[REDACTED]');
    expect(err.message).toContain('root=[REDACTED]');
    expect(err.message).toContain('server=[REDACTED]');
    expect(err.message).toMatch(/auth=Bearer (rmp_)?\[REDACTED\]$/);

    const text = logs.text;
    // Every call above wrote its request line (and the 500 its error line) into this text.
    expect(logs.lines.length).toBeGreaterThan(calls.length);
    for (const secret of [
      ROOT_TOKEN,
      SERVER_SECRET,
      METRICS_TOKEN,
      tenant.ownerKey,
      revokedKey,
      // A key's random part alone must not appear either.
      tenant.ownerKey.slice(-24),
      revokedKey.slice(-24),
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it.each(['unique', 'not-null', 'cast'])(
    'a failed statement (%s) is logged with its SQL and parameter shapes, never parameter values',
    async (kind) => {
      const value = `hmac-${kind}-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`;
      const res = await built.app.inject({
        method: 'POST',
        url: '/test/db-failure',
        payload: { kind, value },
      });
      expect(res.statusCode).toBe(500);
      expect(res.body).not.toContain(value);
      const line = logs
        .parsed()
        .find(
          (l) =>
            l.msg === 'unhandled error' && l.reqId === res.json<{ requestId: string }>().requestId,
        );
      const err = line?.err as Record<string, unknown> | undefined;
      expect(err?.type).toBe('DatabaseQueryFailed');
      expect(err?.statement).toMatch(/leak_probe|::uuid/);
      const n = value.length;
      expect(err?.paramShapes).toEqual(
        {
          unique: [`string(${n})`, 'string(1)'],
          'not-null': [`string(${n + 2})`],
          cast: [`string(${n})`],
        }[kind],
      );
      expect(err?.code).toBe({ unique: '23505', 'not-null': '23502', cast: '22P02' }[kind]);
      if (kind === 'unique') expect(err?.detail).toBe('Key (k)=([redacted]) already exists.');
      // Neither the value nor a fragment of it, on this line or any other.
      expect(logs.text).not.toContain(value.slice(-40));
    },
  );
});
