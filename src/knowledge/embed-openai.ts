import { trace } from '@opentelemetry/api';
import { request } from 'undici';
import type { Config } from '../config.js';
import { UpstreamFailed } from '../platform/http/errors.js';
import { LOCAL_EMBEDDING_DIMENSION, LocalHashEmbedder, type EmbeddingProvider } from './embed.js';
import { inSpan } from '../platform/telemetry/spans.js';

export interface OpenAIEmbedderOptions {
  baseUrl: string;
  model: string;
  dimension: number;
  apiKey?: string;
  batchSize: number;
  maxRetries: number;
  retryBaseMs: number;
  timeoutMs?: number;
}

const tracer = trace.getTracer('rampart.knowledge');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Thrown when an embeddings endpoint fails for good: the ingestion job retries the document
 * later, and a search that needed a query vector answers 502 (not a bare 500).
 */
export class EmbeddingFailed extends UpstreamFailed {
  constructor(message: string) {
    super(message, 502, 'embedding_failed');
  }
}

function parseVectors(body: unknown, count: number, dimension: number): number[][] {
  const data = (body as { data?: unknown }).data;
  if (!Array.isArray(data) || data.length !== count)
    throw new EmbeddingFailed(
      `embeddings response has ${String(Array.isArray(data) ? data.length : 'no')} vectors, expected ${count}`,
    );
  const out = new Array<number[]>(count);
  for (const item of data as { index?: unknown; embedding?: unknown }[]) {
    const i = typeof item.index === 'number' ? item.index : -1;
    const v = item.embedding;
    if (i < 0 || i >= count || !Array.isArray(v) || !v.every((x) => typeof x === 'number'))
      throw new EmbeddingFailed('embeddings response is malformed');
    if (v.length !== dimension)
      throw new EmbeddingFailed(`embedding has dimension ${v.length}, expected ${dimension}`);
    out[i] = v as number[];
  }
  return out;
}

/**
 * Any OpenAI-compatible `/embeddings` endpoint (OpenAI, Ollama, vLLM, …). Texts go in batches;
 * a 429, a 5xx or a network error is retried with exponential backoff, other statuses fail at
 * once (retrying a 400 cannot help). Caching by content hash happens in the ingestor, keyed by
 * `model`, so this class only ever sees text that has not been embedded before.
 */
export class OpenAIEmbedder implements EmbeddingProvider {
  readonly model: string;
  readonly dimension: number;

  constructor(private readonly opts: OpenAIEmbedderOptions) {
    this.model = opts.model;
    this.dimension = opts.dimension;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += this.opts.batchSize)
      out.push(...(await this.#batch(texts.slice(i, i + this.opts.batchSize))));
    return out;
  }

  #batch(texts: readonly string[]): Promise<number[][]> {
    return inSpan(
      tracer,
      'knowledge.embed.request',
      { 'embedding.model': this.model, 'embedding.texts': texts.length },
      async (span) => {
        for (let attempt = 0; ; attempt++) {
          const result = await this.#call(texts);
          if (result.ok) return result.vectors;
          if (!result.retryable || attempt >= this.opts.maxRetries)
            throw new EmbeddingFailed(result.error);
          span.addEvent('retry', { attempt: attempt + 1, reason: result.error });
          await sleep(this.opts.retryBaseMs * 2 ** attempt);
        }
      },
    );
  }

  async #call(
    texts: readonly string[],
  ): Promise<{ ok: true; vectors: number[][] } | { ok: false; retryable: boolean; error: string }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let res;
    try {
      res = await request(`${this.opts.baseUrl.replace(/\/+$/, '')}/embeddings`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: this.model, input: texts }),
        headersTimeout: this.opts.timeoutMs ?? 60_000,
        bodyTimeout: this.opts.timeoutMs ?? 60_000,
      });
    } catch (err) {
      return {
        ok: false,
        retryable: true,
        error: `embeddings request failed: ${(err as Error).message}`,
      };
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      const retryable = res.statusCode === 429 || res.statusCode >= 500;
      return { ok: false, retryable, error: `embeddings endpoint answered ${res.statusCode}` };
    }
    let body: unknown;
    try {
      body = await res.body.json();
    } catch {
      return { ok: false, retryable: true, error: 'embeddings endpoint answered invalid JSON' };
    }
    return { ok: true, vectors: parseVectors(body, texts.length, this.dimension) };
  }
}

/**
 * The configured embedder: OpenAI-compatible when EMBEDDINGS_BASE_URL is set, else the local
 * one. The chunks column is vector(1024) (docs/knowledge.md, "Embedding dimension"), so any other
 * dimension is refused here, at start-up, rather than on the first insert.
 */
export function embedderFromConfig(config: Config): EmbeddingProvider {
  if (!config.EMBEDDINGS_BASE_URL) return new LocalHashEmbedder();
  if (!config.EMBEDDINGS_MODEL)
    throw new Error('EMBEDDINGS_MODEL must be set when EMBEDDINGS_BASE_URL is set.');
  if (config.EMBEDDINGS_DIMENSIONS !== LOCAL_EMBEDDING_DIMENSION)
    throw new Error(
      `EMBEDDINGS_DIMENSIONS is ${config.EMBEDDINGS_DIMENSIONS}, but chunks.embedding is vector(${LOCAL_EMBEDDING_DIMENSION}); ` +
        'use a model (or its `dimensions` option) producing 1024-dimensional vectors, or add a migration for another size.',
    );
  return new OpenAIEmbedder({
    baseUrl: config.EMBEDDINGS_BASE_URL,
    model: config.EMBEDDINGS_MODEL,
    dimension: config.EMBEDDINGS_DIMENSIONS,
    apiKey: config.EMBEDDINGS_API_KEY,
    batchSize: config.EMBEDDINGS_BATCH_SIZE,
    maxRetries: config.EMBEDDINGS_MAX_RETRIES,
    retryBaseMs: config.EMBEDDINGS_RETRY_BASE_MS,
  });
}
