import { trace } from '@opentelemetry/api';
import type { KnowledgeModels as PlatformDefaults, PlatformModel } from '../config-knowledge.js';
import type { ModelCalls, ModelRef } from '../gateway/index.js';
import type { Database } from '../platform/db/database.js';
import { UpstreamFailed } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import { inSpan } from '../platform/telemetry/spans.js';
import { LOCAL_EMBEDDING_DIMENSION, LocalHashEmbedder, type EmbeddingProvider } from './embed.js';
import { ChatModel } from './generate.js';
import { readModelAliases } from './settings.js';
import { isUpstreamFailure } from './upstream-failure.js';

const tracer = trace.getTracer('rampart.knowledge');

/**
 * Thrown when an embeddings call fails upstream: the ingestion job retries the document later,
 * and a search that needed a query vector answers 502 (not a bare 500).
 */
export class EmbeddingFailed extends UpstreamFailed {
  constructor(message: string) {
    super(message, 502, 'embedding_failed');
  }
}

/** Where the knowledge hub gets a caller's embedder. */
export interface EmbedderSource {
  /** The embedder for the caller's tenant; `requestId` labels its usage rows. */
  forCaller(caller: Principal, requestId: string): Promise<EmbeddingProvider>;
}

/** Where /v1/ask gets a caller's chat model; undefined: none (extractive answers). */
export interface ChatSource {
  forCaller(caller: Principal, requestId: string): Promise<ChatModel | undefined>;
}

/** Always the same embedder (benchmarks, and tests of retrieval alone). */
export const fixedEmbedder = (embedder: EmbeddingProvider): EmbedderSource => ({
  forCaller: () => Promise.resolve(embedder),
});

/**
 * Embeds through the gateway, as the caller: each batch is one gateway call (routed, limited,
 * budgeted and metered for the caller's tenant; retries and breakers are the gateway's). Caching
 * by content hash happens in the ingestor, keyed by `model`, so this only sees new text.
 */
export class GatewayEmbedder implements EmbeddingProvider {
  readonly dimension = LOCAL_EMBEDDING_DIMENSION;

  constructor(
    private readonly calls: ModelCalls,
    private readonly caller: Principal,
    private readonly ref: ModelRef,
    /** The vector space the stored chunks are keyed by. */
    readonly model: string,
    private readonly opts: { batchSize: number; requestId: string },
  ) {}

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
      async () => {
        let vectors: number[][];
        try {
          ({ vectors } = await this.calls.embeddings(
            this.caller,
            { model: this.ref, input: texts },
            { requestId: this.opts.requestId },
          ));
        } catch (err) {
          if (isUpstreamFailure(err))
            throw new EmbeddingFailed(`embeddings failed: ${err.message}`);
          throw err;
        }
        for (const v of vectors)
          if (v.length !== this.dimension)
            throw new EmbeddingFailed(
              `embedding has dimension ${v.length}, expected ${this.dimension}`,
            );
        return vectors;
      },
    );
  }
}

const platformRef = (m: PlatformModel): ModelRef => ({ platform: m.provider.name, model: m.model });

/**
 * Picks, per tenant, the models the knowledge hub calls: the tenant's own aliases (knowledge
 * settings), else the platform defaults (EMBEDDINGS_*, ASK_CHAT_*), every call going through
 * the gateway and metered to the tenant; with neither, the local embedder (no provider, nothing
 * to meter) and extractive answers.
 */
export class KnowledgeModels implements EmbedderSource {
  readonly #local = new LocalHashEmbedder();

  constructor(
    private readonly db: Database,
    private readonly calls: ModelCalls | undefined,
    private readonly defaults: PlatformDefaults,
    private readonly opts: { batchSize: number; askTimeoutMs: number },
  ) {}

  #aliases(caller: Principal) {
    return this.db.withTenant(caller, (tx) => readModelAliases(tx));
  }

  #gateway(): ModelCalls {
    // Only a process built without the gateway (a test's bare worker) can get here.
    if (!this.calls) throw new EmbeddingFailed('this process has no model gateway');
    return this.calls;
  }

  async forCaller(caller: Principal, requestId: string): Promise<EmbeddingProvider> {
    const { embeddingAlias } = await this.#aliases(caller);
    const def = this.defaults.embeddings;
    const opts = { batchSize: this.opts.batchSize, requestId };
    if (embeddingAlias !== null)
      return new GatewayEmbedder(
        this.#gateway(),
        caller,
        { alias: embeddingAlias },
        `alias:${embeddingAlias}`,
        opts,
      );
    // The model name alone, as before the gateway: vectors stored then stay searchable.
    if (def) return new GatewayEmbedder(this.#gateway(), caller, platformRef(def), def.model, opts);
    return this.#local;
  }

  /** The chat source for /v1/ask. */
  readonly chat: ChatSource = {
    forCaller: async (caller, requestId) => {
      const { answerAlias } = await this.#aliases(caller);
      const def = this.defaults.chat;
      const target =
        answerAlias !== null
          ? { ref: { alias: answerAlias }, label: answerAlias }
          : def
            ? { ref: platformRef(def), label: def.model }
            : undefined;
      if (!target) return undefined;
      return new ChatModel(this.#gateway(), caller, target.ref, target.label, {
        timeoutMs: this.opts.askTimeoutMs,
        requestId,
      });
    },
  };
}
