import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, ROOT_TOKEN, uniqueSlug, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { requestIdTime, UUID_V7 } from '../src/platform/http/request-id.js';

const PROBLEM = /^application\/problem\+json/;

interface ProblemBody {
  type: string;
  status: number;
  code: string;
  detail: string;
  requestId: string;
  errors?: { field: string; message: string }[];
}

describe.each(testDrivers())('HTTP platform: errors, health, metrics, OpenAPI (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let tenant: { id: string; slug: string; ownerKey: string };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { HTTP_BODY_LIMIT: '2048' });
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  describe('errors are problem+json with a stable code and the request id', () => {
    it('unknown route → 404 route_not_found', async () => {
      const res = await app.app.inject({ method: 'GET', url: '/v1/nothing-here?x=1' });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      const body = res.json<ProblemBody>();
      expect(body.code).toBe('route_not_found');
      expect(body.status).toBe(404);
      expect(body.requestId).toBe(res.headers['x-request-id']);
      expect(body.requestId.length).toBeGreaterThanOrEqual(8);
    });

    it('a request without an id gets a time-ordered UUIDv7', async () => {
      const before = Date.now();
      const first = await app.app.inject({ method: 'GET', url: '/healthz' });
      const second = await app.app.inject({ method: 'GET', url: '/healthz' });
      const ids = [first, second].map((r) => String(r.headers['x-request-id']));
      for (const id of ids) {
        expect(id).toMatch(UUID_V7);
        expect(requestIdTime(id)).toBeGreaterThanOrEqual(before);
        expect(requestIdTime(id)).toBeLessThanOrEqual(Date.now());
      }
      expect(ids[0]).not.toBe(ids[1]);
      expect(requestIdTime(ids[0] as string)).toBeLessThanOrEqual(
        requestIdTime(ids[1] as string) as number,
      );
    });

    it('a well-formed incoming X-Request-Id is kept', async () => {
      const res = await app.app.inject({
        method: 'GET',
        url: '/v1/nothing-here',
        headers: { 'x-request-id': 'req-abc-12345' },
      });
      expect(res.json<ProblemBody>().requestId).toBe('req-abc-12345');
    });

    it('malformed JSON → 400 malformed_json', async () => {
      const res = await app.app.inject({
        method: 'POST',
        url: '/admin/v1/tenants',
        headers: { ...bearer(ROOT_TOKEN), 'content-type': 'application/json' },
        payload: '{"slug": "abc", "name": ',
      });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      const body = res.json<ProblemBody>();
      expect(body.code).toBe('malformed_json');
      expect(body.requestId).toBe(res.headers['x-request-id']);
    });

    it('a body in an unsupported media type → 415; a missing JSON body → 400 naming body', async () => {
      const res = await app.app.inject({
        method: 'POST',
        url: '/admin/v1/tenants',
        headers: { ...bearer(ROOT_TOKEN), 'content-type': 'text/xml' },
        payload: '<tenant/>',
      });
      expect(res.statusCode).toBe(415);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(res.json<ProblemBody>().code).toBe('unsupported_media_type');
      const empty = await app.app.inject({
        method: 'POST',
        url: '/admin/v1/tenants',
        headers: { ...bearer(ROOT_TOKEN), 'content-type': 'application/json' },
      });
      expect(empty.statusCode).toBe(400);
      expect(empty.json<ProblemBody>()).toMatchObject({ code: 'invalid_input' });
      expect(empty.json<ProblemBody>().detail).toMatch(/^body/);
    });

    it('schema violation → 400 naming the offending field', async () => {
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: bearer(tenant.ownerKey),
        payload: { name: 'k', role: 'superuser' },
      });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      const body = res.json<ProblemBody>();
      expect(body.code).toBe('invalid_input');
      expect(body.errors?.map((e) => e.field)).toContain('body.role');
      expect(body.detail).toContain('body.role');
    });

    it('invalid path parameter → 400 naming params.id', async () => {
      const res = await app.app.inject({
        method: 'DELETE',
        url: '/v1/api-keys/not-a-uuid',
        headers: bearer(tenant.ownerKey),
      });
      expect(res.statusCode).toBe(400);
      expect(res.json<ProblemBody>().errors?.map((e) => e.field)).toContain('params.id');
    });

    it('body over HTTP_BODY_LIMIT → 413 payload_too_large, and nothing is created', async () => {
      const slug = uniqueSlug('big');
      const res = await app.app.inject({
        method: 'POST',
        url: '/admin/v1/tenants',
        headers: bearer(ROOT_TOKEN),
        payload: { slug, name: 'x'.repeat(4096) },
      });
      expect(res.statusCode).toBe(413);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(res.json<ProblemBody>().code).toBe('payload_too_large');
      const found = await t.asOwner((q) =>
        q.query<{ n: number }>(`SELECT count(*)::int AS n FROM tenants WHERE slug = $1`, [slug]),
      );
      expect(found.rows[0]?.n).toBe(0);
    });

    it('an unexpected database failure → opaque 500 with the request id; stack logged once', async () => {
      // Warm the key cache so authentication does not touch the table we are about to break.
      expect(
        (await app.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(tenant.ownerKey) }))
          .statusCode,
      ).toBe(200);
      await t.asOwner((q) => q.exec('ALTER TABLE api_keys RENAME TO api_keys_moved'));
      let res;
      try {
        res = await app.app.inject({
          method: 'GET',
          url: '/v1/api-keys',
          headers: bearer(tenant.ownerKey),
        });
      } finally {
        await t.asOwner((q) => q.exec('ALTER TABLE api_keys_moved RENAME TO api_keys'));
      }
      expect(res.statusCode).toBe(500);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      const body = res.json<ProblemBody>();
      expect(body.code).toBe('internal');
      expect(body.requestId).toBe(res.headers['x-request-id']);
      // Nothing about the original failure reaches the client.
      expect(res.body).not.toMatch(/api_keys|relation|SELECT|stack|\.ts:\d+|at /i);
      // The log holds the original error with its stack exactly once, under the request id.
      const errorLines = app.logs
        .parsed()
        .filter((l) => l.reqId === body.requestId && l.level === 'error');
      expect(errorLines).toHaveLength(1);
      const err = errorLines[0]?.err as { message: string; stack: string };
      expect(err.message).toMatch(/api_keys/);
      expect(err.stack).toMatch(/\n\s+at /);
      const stacks = app.logs.lines.filter(
        (l) => l.includes(body.requestId) && l.includes('"stack"'),
      );
      expect(stacks).toHaveLength(1);
    });
  });

  describe('health', () => {
    it('/healthz → 200', async () => {
      const res = await app.app.inject({ method: 'GET', url: '/healthz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
    });

    it('/readyz → 200 when database and migrations are ready', async () => {
      const res = await app.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        status: 'ready',
        failing: [],
        checks: { database: 'ok', migrations: 'ok' },
      });
    });

    it('/readyz → 503 naming migrations when the ledger lacks a migration', async () => {
      const removed = await t.asOwner(async (q) => {
        const r = await q.query<Record<string, unknown>>(
          `DELETE FROM rampart_migrations
            WHERE version = (SELECT max(version) FROM rampart_migrations) RETURNING *`,
        );
        return r.rows[0] as Record<string, unknown>;
      });
      try {
        const res = await app.app.inject({ method: 'GET', url: '/readyz' });
        expect(res.statusCode).toBe(503);
        const body = res.json<{ failing: string[]; checks: Record<string, string> }>();
        expect(body.failing).toEqual(['migrations']);
        expect(body.checks.migrations).toMatch(/pending migrations: 0*1_identity|pending/);
      } finally {
        const cols = Object.keys(removed);
        await t.asOwner((q) =>
          q.query(
            `INSERT INTO rampart_migrations (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
            cols.map((c) => removed[c]),
          ),
        );
      }
      const again = await app.app.inject({ method: 'GET', url: '/readyz' });
      expect(again.statusCode).toBe(200);
    });

    it('/readyz → 503 naming redis when Redis is unreachable, without hanging', async () => {
      const down = await createTestApp(t.db, {}, { redisUrl: 'redis://127.0.0.1:6390' });
      try {
        const res = await down.app.inject({ method: 'GET', url: '/readyz' });
        expect(res.statusCode).toBe(503);
        const body = res.json<{ failing: string[]; checks: Record<string, string> }>();
        expect(body.failing).toEqual(['redis']);
        expect(body.checks.database).toBe('ok');
        expect(body.checks.redis).not.toBe('ok');
      } finally {
        await down.close();
      }
    });
  });

  describe('metrics', () => {
    it('GET /metrics is Prometheus text with route-template histogram, process and pool metrics', async () => {
      const created = await app.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: bearer(tenant.ownerKey),
        payload: { name: 'to-revoke', role: 'viewer' },
      });
      const id = created.json<{ id: string }>().id;
      const del = await app.app.inject({
        method: 'DELETE',
        url: `/v1/api-keys/${id}`,
        headers: bearer(tenant.ownerKey),
      });
      expect(del.statusCode).toBe(204);
      const res = await app.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = res.body;
      expect(text).toContain('# TYPE rampart_http_request_duration_seconds histogram');
      expect(text).toMatch(
        /rampart_http_request_duration_seconds_count\{route="\/v1\/api-keys\/:id",method="DELETE",status_code="204"\} 1\n/,
      );
      expect(text).toMatch(
        /rampart_http_request_duration_seconds_count\{route="\/v1\/api-keys",method="POST",status_code="201"\} 1\n/,
      );
      // The raw id never becomes a label (bounded cardinality).
      expect(text).not.toContain(id);
      expect(text).toMatch(/^rampart_process_cpu_seconds_total \d/m);
      expect(text).toMatch(/^rampart_process_resident_memory_bytes \d/m);
      expect(text).toMatch(/^rampart_db_pool_connections \d+/m);
      expect(text).toMatch(/^rampart_db_pool_idle_connections \d+/m);
      expect(text).toMatch(/^rampart_db_pool_waiting_requests \d+/m);
    });

    it('with METRICS_TOKEN set, /metrics needs the token', async () => {
      const token = 'metrics-token-abcdef123456';
      const guarded = await createTestApp(t.db, { METRICS_TOKEN: token });
      try {
        const none = await guarded.app.inject({ method: 'GET', url: '/metrics' });
        expect(none.statusCode).toBe(401);
        expect(none.headers['content-type']).toMatch(PROBLEM);
        expect(none.body).not.toContain('rampart_http_request_duration_seconds');
        const wrong = await guarded.app.inject({
          method: 'GET',
          url: '/metrics',
          headers: bearer('metrics-token-abcdef123457'),
        });
        expect(wrong.statusCode).toBe(401);
        const ok = await guarded.app.inject({
          method: 'GET',
          url: '/metrics',
          headers: bearer(token),
        });
        expect(ok.statusCode).toBe(200);
        expect(ok.body).toContain('rampart_http_request_duration_seconds');
      } finally {
        await guarded.close();
      }
    });
  });

  describe('OpenAPI', () => {
    it('GET /openapi.json is an OpenAPI 3.1 document of the routes with request schemas', async () => {
      const res = await app.app.inject({ method: 'GET', url: '/openapi.json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json<{
        openapi: string;
        paths: Record<string, Record<string, Record<string, unknown>>>;
      }>();
      expect(doc.openapi).toMatch(/^3\.1\./);
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/v1/api-keys',
          '/v1/api-keys/{id}',
          '/v1/me',
          '/admin/v1/tenants',
          '/v1/audit-events',
        ]),
      );
      const createKey = doc.paths['/v1/api-keys']?.post as {
        requestBody: {
          content: Record<string, { schema: { properties: Record<string, unknown> } }>;
        };
        security: unknown[];
      };
      const props = createKey.requestBody.content['application/json']?.schema.properties ?? {};
      expect(Object.keys(props)).toEqual(expect.arrayContaining(['name', 'role']));
      expect(createKey.security).toEqual([{ bearer: [] }]);
      const tenantBody = doc.paths['/admin/v1/tenants']?.post as {
        requestBody: { content: Record<string, { schema: { required: string[] } }> };
      };
      expect(tenantBody.requestBody.content['application/json']?.schema.required).toEqual(
        expect.arrayContaining(['slug', 'name']),
      );
      // Infrastructure endpoints stay out of the API document.
      expect(doc.paths['/metrics']).toBeUndefined();
    });

    it('GET /docs serves the browsable UI', async () => {
      let res = await app.app.inject({ method: 'GET', url: '/docs' });
      if (res.statusCode >= 300 && res.statusCode < 400) {
        res = await app.app.inject({ method: 'GET', url: String(res.headers.location) });
      }
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.body).toMatch(/swagger/i);
    });
  });
});
