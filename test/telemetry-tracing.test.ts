import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, ROOT_TOKEN, SERVER_SECRET } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startServe, tempDataDir } from './helpers/serve-process.js';

// These tests start real `rampart` processes (tsx + embedded Postgres): slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
}
interface OtlpExport {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

/**
 * A fake OpenTelemetry collector speaking OTLP/HTTP with JSON encoding (POST /v1/traces),
 * keeping every export it receives.
 */
async function startFakeCollector(): Promise<{
  url: string;
  exports: { contentType: string; body: OtlpExport }[];
  close(): Promise<void>;
}> {
  const exports: { contentType: string; body: OtlpExport }[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        exports.push({
          contentType: String(req.headers['content-type']),
          body: JSON.parse(data) as OtlpExport,
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function attr(span: OtlpSpan, key: string): string | number | undefined {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
}

describe.each(testDrivers())('OpenTelemetry export from `rampart serve` (%s)', (driver) => {
  let t: TestDatabase | undefined;
  let collector: Awaited<ReturnType<typeof startFakeCollector>>;
  const data = tempDataDir();

  beforeAll(async () => {
    collector = await startFakeCollector();
    if (driver === 'postgres') t = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await collector?.close();
    await t?.close();
    data.cleanup();
  });

  it('exports a SERVER span per request with tenant.id, and db.query child spans', async () => {
    const server = await startServe({
      RAMPART_DATA_DIR: data.dir,
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_SERVICE_NAME: 'rampart-trace-test',
      ...(t?.settings
        ? { DATABASE_URL: t.settings.DATABASE_URL, RAMPART_SECRET_KEY: SERVER_SECRET }
        : {}),
    });
    try {
      const created = await fetch(`${server.baseUrl}/admin/v1/tenants`, {
        method: 'POST',
        headers: { ...bearer(ROOT_TOKEN), 'content-type': 'application/json' },
        body: JSON.stringify({ slug: `trace-${Date.now().toString(36)}`, name: 'Traced' }),
      });
      expect(created.status).toBe(201);
      const { tenant, apiKey } = (await created.json()) as {
        tenant: { id: string };
        apiKey: string;
      };
      const listed = await fetch(`${server.baseUrl}/v1/api-keys`, { headers: bearer(apiKey) });
      expect(listed.status).toBe(200);
      const posted = await fetch(`${server.baseUrl}/v1/api-keys`, {
        method: 'POST',
        headers: { ...bearer(apiKey), 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'traced-key', role: 'viewer' }),
      });
      expect(posted.status).toBe(201);

      // Shutdown flushes the batch processor.
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);

      expect(collector.exports.length).toBeGreaterThan(0);
      for (const e of collector.exports) expect(e.contentType).toMatch(/^application\/json/);
      const resources = collector.exports.flatMap((e) => e.body.resourceSpans);
      expect(
        resources[0]?.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue,
      ).toBe('rampart-trace-test');
      const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));

      for (const [method, status] of [
        ['GET', 200],
        ['POST', 201],
      ] as const) {
        const server = spans.find(
          (s) => s.kind === SPAN_KIND_SERVER && s.name === `${method} /v1/api-keys`,
        );
        expect(server, `${method} server span`).toBeDefined();
        if (!server) continue;
        expect(attr(server, 'tenant.id')).toBe(tenant.id);
        expect(attr(server, 'http.route')).toBe('/v1/api-keys');
        expect(attr(server, 'http.response.status_code')).toBe(status);
        const children = spans.filter(
          (s) => s.parentSpanId === server.spanId && s.traceId === server.traceId,
        );
        const dbChildren = children.filter((s) => s.name === 'db.query');
        expect(dbChildren.length, `${method} db.query children`).toBeGreaterThan(0);
        for (const c of dbChildren) {
          expect(c.kind).toBe(SPAN_KIND_CLIENT);
          expect(String(attr(c, 'db.system'))).toMatch(/^postgresql/);
        }
        // The statement text is recorded, never a credential (keys reach SQL only as hashes).
        expect(JSON.stringify(dbChildren)).not.toContain(apiKey);
      }
      const adminSpan = spans.find((s) => s.name === 'POST /admin/v1/tenants');
      expect(adminSpan?.kind).toBe(SPAN_KIND_SERVER);
      expect(JSON.stringify(spans)).not.toContain(ROOT_TOKEN);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
