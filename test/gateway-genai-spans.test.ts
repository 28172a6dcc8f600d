import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, ROOT_TOKEN, SERVER_SECRET } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startServe, tempDataDir } from './helpers/serve-process.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

// Starts a real `rampart serve` (tsx + embedded Postgres): slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const MASTER_KEY = Buffer.alloc(32, 13).toString('base64');
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface OtlpExport {
  resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
}

/** A fake OpenTelemetry collector: OTLP/HTTP JSON on POST /v1/traces, every export kept. */
async function startFakeCollector() {
  const exports: OtlpExport[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        exports.push(JSON.parse(data) as OtlpExport);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () =>
      exports.flatMap((e) => e.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function attrs(span: OtlpSpan): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries(
    span.attributes.map(({ key, value: v }) => [
      key,
      v.stringValue ??
        (v.intValue !== undefined ? Number(v.intValue) : undefined) ??
        v.doubleValue ??
        v.boolValue,
    ]),
  );
}

describe.each(testDrivers())('GenAI spans of gateway calls (%s)', (driver) => {
  let t: TestDatabase | undefined;
  let collector: Awaited<ReturnType<typeof startFakeCollector>>;
  let fake: FakeUpstream;
  const data = tempDataDir();

  beforeAll(async () => {
    collector = await startFakeCollector();
    fake = await startFakeOpenAI();
    if (driver === 'postgres') t = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await collector?.close();
    await fake?.close();
    await t?.close();
    data.cleanup();
  });

  it('exports one client span per call, child of the request span, with gen_ai.* attributes and no text', async () => {
    const server = await startServe({
      RAMPART_DATA_DIR: data.dir,
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      RAMPART_MASTER_KEY: MASTER_KEY,
      OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
      GATEWAY_RETRY_ATTEMPTS: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_SERVICE_NAME: 'rampart-genai-test',
      ...(t?.settings
        ? { DATABASE_URL: t.settings.DATABASE_URL, RAMPART_SECRET_KEY: SERVER_SECRET }
        : {}),
    });
    try {
      const post = async (url: string, key: string, body: object) => {
        const r = await fetch(`${server.baseUrl}${url}`, {
          method: 'POST',
          headers: { ...bearer(key), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: r.status, body: await r.text() };
      };
      const created = await post('/admin/v1/tenants', ROOT_TOKEN, {
        slug: `genai-${Date.now().toString(36)}`,
        name: 'GenAI',
      });
      expect(created.status, created.body).toBe(201);
      const { apiKey } = JSON.parse(created.body) as { apiKey: string };
      const setup = [
        ['/v1/providers', { name: 'main', type: 'openai', baseUrl: fake.baseUrl, apiKey: 'sk-x' }],
        ['/v1/routes', { alias: 'm', targets: [{ provider: 'main', model: 'priced-model' }] }],
        ['/v1/routes', { alias: 'boom', targets: [{ provider: 'main', model: 'fail-500' }] }],
      ] as const;
      for (const [url, body] of setup) expect((await post(url, apiKey, body)).status).toBe(201);

      const question = 'tell me the launch codes';
      const ok = await post('/v1/chat/completions', apiKey, {
        model: 'm',
        messages: [{ role: 'user', content: question }],
        max_tokens: 10,
        temperature: 0.25,
      });
      expect(ok.status, ok.body).toBe(200);
      const emb = await post('/v1/embeddings', apiKey, { model: 'm', input: question });
      expect(emb.status, emb.body).toBe(200);
      const failed = await post('/v1/chat/completions', apiKey, {
        model: 'boom',
        messages: [{ role: 'user', content: question }],
      });
      expect(failed.status).toBe(502);

      // Shutdown flushes the batch span processor.
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);

      const spans = collector.spans();
      const named = (name: string) => spans.filter((s) => s.name === name);
      const [chat] = named('chat m');
      const [embeddings] = named('embeddings m');
      const [boom] = named('chat boom');
      expect(chat?.kind).toBe(SPAN_KIND_CLIENT);
      expect(attrs(chat as OtlpSpan)).toMatchObject({
        'gen_ai.system': 'openai',
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'm',
        'gen_ai.response.model': 'priced-model',
        'gen_ai.request.max_tokens': 10,
        'gen_ai.request.temperature': 0.25,
        // The fake counts words: 5 + 1 per message in, 'echo: …' = 6 out.
        'gen_ai.usage.input_tokens': 6,
        'gen_ai.usage.output_tokens': 6,
        'server.address': '127.0.0.1',
      });
      expect(attrs(chat as OtlpSpan)).not.toHaveProperty('error.type');
      const parent = spans.find((s) => s.spanId === chat?.parentSpanId);
      expect(parent?.kind).toBe(SPAN_KIND_SERVER);
      expect(parent?.name).toBe('POST /v1/chat/completions');
      expect(parent?.traceId).toBe(chat?.traceId);

      expect(attrs(embeddings as OtlpSpan)).toMatchObject({
        'gen_ai.operation.name': 'embeddings',
        'gen_ai.request.model': 'm',
        'gen_ai.usage.input_tokens': 5,
      });
      expect(spans.find((s) => s.spanId === embeddings?.parentSpanId)?.name).toBe(
        'POST /v1/embeddings',
      );

      expect(attrs(boom as OtlpSpan)).toMatchObject({
        'gen_ai.system': 'openai',
        'gen_ai.request.model': 'boom',
        'error.type': '502',
      });
      expect(boom?.status?.code).toBe(STATUS_ERROR);

      // Neither the prompt nor the completion is ever recorded.
      const all = JSON.stringify(spans);
      expect(all).not.toContain('launch codes');
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
