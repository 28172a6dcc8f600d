import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAIEmbedder } from '../src/knowledge/embed-openai.js';
import { ChatModel, GenerationFailed } from '../src/knowledge/generate.js';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';

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
