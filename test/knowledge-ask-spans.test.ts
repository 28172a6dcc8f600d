import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAIEmbedder } from '../src/knowledge/embed-openai.js';
import { ChatModel, GenerationFailed } from '../src/knowledge/generate.js';
import { createWorker } from '../src/knowledge/worker.js';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

// An in-process tracer provider: the knowledge hub's spans land in memory (vitest isolates
// each test file, so setting the global provider here touches no other test).
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

describe('knowledge hub spans', () => {
  let fake: ScriptedUpstream;
  beforeAll(async () => {
    fake = await startScriptedUpstream();
  });
  afterAll(async () => fake?.close());

  it('records a generation span with the model, and marks a failed one as an error', async () => {
    exporter.reset();
    fake.chatReply = () => 'An answer [c1].';
    const chat = new ChatModel({ baseUrl: fake.baseUrl, model: 'fake-chat', timeoutMs: 5_000 });
    expect(await chat.complete('system', 'user')).toBe('An answer [c1].');
    fake.failNext.push(502);
    await expect(chat.complete('system', 'user')).rejects.toBeInstanceOf(GenerationFailed);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['knowledge.generate', 'knowledge.generate']);
    expect(spans[0]?.attributes['gen_ai.request.model']).toBe('fake-chat');
    expect(spans.map((s) => s.status.code)).toEqual([0, 2]);
  });

  it('records an embedding request span with its retries', async () => {
    exporter.reset();
    fake.failNext.push(500);
    const embedder = new OpenAIEmbedder({
      baseUrl: fake.baseUrl,
      model: 'fake-embed',
      dimension: 1024,
      batchSize: 10,
      maxRetries: 2,
      retryBaseMs: 0,
    });
    await embedder.embed(['one', 'two']);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('knowledge.embed.request');
    expect(span?.attributes).toMatchObject({
      'embedding.model': 'fake-embed',
      'embedding.texts': 2,
    });
    expect(span?.events.map((e) => e.name)).toEqual(['retry']);
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
