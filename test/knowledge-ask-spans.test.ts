import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelCalls } from '../src/gateway/index.js';
import { LocalHashEmbedder } from '../src/knowledge/embed.js';
import { ChatModel, GenerationFailed } from '../src/knowledge/generate.js';
import { GatewayEmbedder } from '../src/knowledge/models.js';
import { UpstreamFailed } from '../src/platform/http/errors.js';
import { servicePrincipal } from '../src/platform/http/principal.js';
import { createWorker } from '../src/jobs.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

// An in-process tracer provider: the knowledge hub's spans land in memory (vitest isolates
// each test file, so setting the global provider here touches no other test).
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

describe('knowledge hub spans', () => {
  // The gateway's in-process entry, scripted: these spans are the knowledge hub's own.
  let failNext = false;
  const calls: ModelCalls = {
    chat: () => {
      if (failNext) return Promise.reject(new UpstreamFailed('upstream answered 502'));
      return Promise.resolve({
        content: 'An answer [c1].',
        usage: undefined,
        body: {},
        toolCalls: [],
        costUsd: 0,
        provider: null,
        model: null,
        redactions: 0,
      });
    },
    embeddings: (_caller, call) =>
      Promise.resolve({
        vectors: call.input.map((t) => new LocalHashEmbedder().embedOne(t)),
        usage: undefined,
      }),
    dataClassesAllowed: () => Promise.resolve(null),
  };
  const caller = servicePrincipal('00000000-0000-4000-8000-000000000001');

  it('records a generation span with the model, and marks a failed one as an error', async () => {
    exporter.reset();
    const chat = new ChatModel(calls, caller, { alias: 'answers' }, 'answers', {
      timeoutMs: 5_000,
      requestId: 'r1',
    });
    failNext = false;
    expect(await chat.complete('system', 'user')).toBe('An answer [c1].');
    failNext = true;
    await expect(chat.complete('system', 'user')).rejects.toBeInstanceOf(GenerationFailed);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['knowledge.generate', 'knowledge.generate']);
    expect(spans[0]?.attributes['gen_ai.request.model']).toBe('answers');
    expect(spans.map((s) => s.status.code)).toEqual([0, 2]);
  });

  it('records an embedding request span per gateway call', async () => {
    exporter.reset();
    const embedder = new GatewayEmbedder(calls, caller, { alias: 'vectors' }, 'alias:vectors', {
      batchSize: 10,
      requestId: 'r2',
    });
    await embedder.embed(['one', 'two']);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('knowledge.embed.request');
    expect(span?.attributes).toMatchObject({
      'embedding.model': 'alias:vectors',
      'embedding.texts': 2,
    });
  });
});

describe('knowledge search spans', () => {
  let t: TestDatabase;
  let app: TestApp;
  let key: string;
  beforeAll(async () => {
    t = await createTestDatabase('pglite');
    app = await createTestApp(t.db);
    key = (await app.createTenant()).ownerKey;
    for (const text of ['Copper wire ships from the northern depot.', 'Brass fittings wait.'])
      await app.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: bearer(key),
        payload: { title: text.slice(0, 12), text },
      });
    await createWorker(t.db, app.config).drain();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  const searchSpans = async (mode: string) => {
    exporter.reset();
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/search',
      headers: bearer(key),
      payload: { query: 'copper wire', mode, k: 2 },
    });
    expect(res.statusCode).toBe(200);
    return exporter.getFinishedSpans();
  };

  it('records embed, vector search, keyword search and fusion spans for a hybrid search', async () => {
    const spans = await searchSpans('hybrid');
    expect(spans.map((s) => s.name).sort()).toEqual([
      'knowledge.embed',
      'knowledge.search',
      'knowledge.search.fusion',
      'knowledge.search.keyword',
      'knowledge.search.vector',
    ]);
    const byName = new Map(spans.map((s) => [s.name, s]));
    expect(byName.get('knowledge.search')?.attributes).toMatchObject({
      'search.mode': 'hybrid',
      'search.k': 2,
    });
    expect(byName.get('knowledge.embed')?.attributes).toMatchObject({
      'embedding.purpose': 'query',
      'embedding.model': 'rampart-local-hash-v2-1024',
    });
    expect(byName.get('knowledge.search.fusion')?.attributes).toMatchObject({
      'search.fusion': 'convex',
      'search.keyword_hits': 1,
      'search.vector_hits': 2,
    });
    expect(spans.every((s) => s.status.code === 0)).toBe(true);
  });

  it('records only the ranking a single-mode search runs', async () => {
    expect((await searchSpans('keyword')).map((s) => s.name).sort()).toEqual([
      'knowledge.search',
      'knowledge.search.keyword',
    ]);
    expect((await searchSpans('vector')).map((s) => s.name).sort()).toEqual([
      'knowledge.embed',
      'knowledge.search',
      'knowledge.search.vector',
    ]);
  });
});
