import { trace } from '@opentelemetry/api';
import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';
import type { Database } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import { newRequestId } from '../platform/http/request-id.js';
import { toVectorLiteral } from './embed.js';
import type { EmbedderSource } from './models.js';
import type { KnowledgeMetrics } from './metrics.js';
import {
  corpusStats,
  EF_SEARCH_FACTOR,
  keywordSearch,
  vectorSearch,
  type CorpusStats,
  type HitRow,
  type SearchFilter,
} from './search-store.js';
import { inSpan } from '../platform/telemetry/spans.js';

export const SearchBody = z.object({
  query: safeString().trim().min(1).max(2000),
  k: z.number().int().min(1).max(100).default(10),
  mode: z.enum(['hybrid', 'vector', 'keyword']).default('hybrid'),
  filter: z
    .object({
      documentIds: z.array(z.uuid()).max(100).optional(),
      tags: z.array(safeString().min(1).max(64)).max(50).optional(),
    })
    .optional(),
});
export type SearchBody = z.infer<typeof SearchBody>;

export const SearchHit = z.object({
  chunkId: z.string(),
  documentId: z.string(),
  title: z.string(),
  text: z.string(),
  score: z.number(),
  page: z.number().nullable(),
  pageTo: z.number().nullable(),
  headingPath: z.array(z.string()),
});
export type SearchHit = z.infer<typeof SearchHit>;

const tracer = trace.getTracer('rampart.knowledge');

/** Reciprocal rank fusion constant: 60 is the value from Cormack et al. (2009). */
const RRF_K = 60;

/**
 * Fuses ranked lists by (weighted) reciprocal rank: robust to the rankings' incomparable score
 * scales. Weights default to 1 per list.
 */
export function reciprocalRankFusion(
  lists: readonly (readonly string[])[],
  weights: readonly number[] = [],
): Map<string, number> {
  const scores = new Map<string, number>();
  lists.forEach((list, l) => {
    const w = weights[l] ?? 1;
    list.forEach((id, rank) => scores.set(id, (scores.get(id) ?? 0) + w / (RRF_K + rank + 1)));
  });
  return scores;
}

export interface Scored {
  id: string;
  score: number;
}

/**
 * Convex combination of min-max normalised scores: (1 - w)·keyword + w·vector, a candidate
 * missing from a list scoring 0 there. Unlike RRF it keeps how far apart the scores are, so a
 * small w only reorders near-ties of the keyword ranking (w = 0 is exactly the keyword order),
 * which is what a lexical embedder can safely add. Sorted best first, ties by id.
 */
export function convexFusion(
  keyword: readonly Scored[],
  vector: readonly Scored[],
  vectorWeight: number,
): Scored[] {
  const fused = new Map<string, number>();
  const add = (list: readonly Scored[], w: number): void => {
    if (list.length === 0) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (const { score } of list) {
      lo = Math.min(lo, score);
      hi = Math.max(hi, score);
    }
    const span = hi - lo;
    for (const { id, score } of list)
      fused.set(id, (fused.get(id) ?? 0) + w * (span > 0 ? (score - lo) / span : 1));
  };
  add(keyword, 1 - vectorWeight);
  add(vector, vectorWeight);
  return [...fused.entries()]
    .map(([id, score]) => ({ id, score }))
    .sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
}

export interface SearchOptions {
  /**
   * Weight w of the vector ranking in hybrid fusion (see convexFusion). The default suits the
   * built-in lexical embedder (tuned on half of SciFact's queries, checked on the other half:
   * bench/retrieval.ts --tune); raise it for a semantic embedding model.
   */
  vectorWeight?: number;
  /** hnsw.ef_search per requested row. */
  efSearchFactor?: number;
  /** How long BM25 corpus statistics are reused per tenant and group set. */
  statsTtlMs?: number;
  /** Records search latency by mode. */
  metrics?: KnowledgeMetrics | undefined;
}

export const DEFAULT_VECTOR_WEIGHT = 0.25;

const hit = (r: HitRow, score: number): SearchHit => ({
  chunkId: r.chunk_id,
  documentId: r.document_id,
  title: r.title,
  text: r.text,
  score,
  page: r.page_from,
  pageTo: r.page_to,
  headingPath: r.heading_path,
});

/** Permission-aware retrieval: every query runs in the caller's tenant transaction, under RLS. */
export class SearchService {
  private readonly vectorWeight: number;
  private readonly efSearchFactor: number;
  private readonly statsTtlMs: number;
  private readonly metrics: KnowledgeMetrics | undefined;
  // Counting a tenant's chunks costs a scan per query; the counts move only with ingestion, and
  // a few seconds' staleness shifts idf negligibly. Keyed by tenant AND groups: each group set
  // sees (RLS) its own corpus.
  private readonly stats = new Map<string, { at: number; value: CorpusStats }>();

  constructor(
    private readonly db: Database,
    private readonly embedders: EmbedderSource,
    options: SearchOptions = {},
  ) {
    this.vectorWeight = options.vectorWeight ?? DEFAULT_VECTOR_WEIGHT;
    this.efSearchFactor = options.efSearchFactor ?? EF_SEARCH_FACTOR;
    this.statsTtlMs = options.statsTtlMs ?? 10_000;
    this.metrics = options.metrics;
  }

  /**
   * Ranked chunks the principal may read; spans for each ranking and the fusion, latency by mode.
   * `requestId` labels the usage row of the query's embedding call.
   */
  async search(
    principal: Principal,
    body: SearchBody,
    requestId: string = newRequestId(),
    /** The data classes the model that will read the hits may receive (decision 020); null: any. */
    allowedClasses: readonly string[] | null = null,
  ): Promise<{ mode: string; data: SearchHit[] }> {
    const stop = this.metrics?.searchDuration.startTimer({ mode: body.mode });
    const result = await inSpan(
      tracer,
      'knowledge.search',
      { 'search.mode': body.mode, 'search.k': body.k },
      () => this.#search(principal, body, requestId, allowedClasses),
    );
    stop?.();
    return result;
  }

  async #search(
    principal: Principal,
    body: SearchBody,
    requestId: string,
    allowedClasses: readonly string[] | null,
  ): Promise<{ mode: string; data: SearchHit[] }> {
    const { query, k, mode } = body;
    const filter: SearchFilter = { ...body.filter, allowedClasses };
    // Hybrid looks a little past k in both lists so a candidate just outside one can still win.
    const pool = mode === 'hybrid' ? Math.max(20, k) : k;
    // Two transactions under the same principal (both under RLS) so the rankings run in parallel
    // on a pooled server; on the embedded database they simply queue.
    const [byKeyword, byVector] = await Promise.all([
      mode === 'vector' ? [] : this.keyword(principal, query, filter, pool),
      mode === 'keyword' ? [] : this.vector(principal, query, filter, pool, requestId),
    ]);
    if (mode === 'vector') return { mode, data: byVector.map((r) => hit(r, Number(r.score))) };
    if (mode === 'keyword') return { mode, data: byKeyword.map((r) => hit(r, Number(r.score))) };
    const data = await inSpan(
      tracer,
      'knowledge.search.fusion',
      {
        'search.fusion': 'convex',
        'search.vector_weight': this.vectorWeight,
        'search.keyword_hits': byKeyword.length,
        'search.vector_hits': byVector.length,
      },
      async () => {
        const rows = new Map<string, HitRow>();
        for (const r of [...byVector, ...byKeyword]) rows.set(r.chunk_id, r);
        const scored = (list: HitRow[]): Scored[] =>
          list.map((r) => ({ id: r.chunk_id, score: Number(r.score) }));
        return convexFusion(scored(byKeyword), scored(byVector), this.vectorWeight)
          .slice(0, k)
          .map(({ id, score }) => hit(rows.get(id) as HitRow, score));
      },
    );
    return { mode, data };
  }

  private keyword(
    principal: Principal,
    query: string,
    filter: SearchFilter,
    limit: number,
  ): Promise<HitRow[]> {
    // Document managers may see more chunks (adminsReadRestricted): their own corpus.
    const manage = principal.permissions.has('documents:manage') ? 'manage' : '';
    const key = `${principal.tenantId}\u0000${manage}\u0000${[...principal.groups].sort().join('\u0000')}`;
    return inSpan(tracer, 'knowledge.search.keyword', { 'search.limit': limit }, () =>
      this.db.withTenant(principal, async (tx) => {
        const cached = this.stats.get(key);
        let corpus = cached && Date.now() - cached.at < this.statsTtlMs ? cached.value : undefined;
        if (!corpus) {
          corpus = await corpusStats(tx);
          if (this.stats.size > 10_000) this.stats.clear();
          this.stats.set(key, { at: Date.now(), value: corpus });
        }
        return keywordSearch(tx, query, filter, limit, corpus);
      }),
    );
  }

  private vector(
    principal: Principal,
    query: string,
    filter: SearchFilter,
    limit: number,
    requestId: string,
  ): Promise<HitRow[]> {
    return inSpan(tracer, 'knowledge.search.vector', { 'search.limit': limit }, async () => {
      // The tenant's embedder: the query must land in the vector space its chunks were stored in.
      const embedder = await this.embedders.forCaller(principal, requestId);
      const model = embedder.model;
      const embedded = await inSpan(
        tracer,
        'knowledge.embed',
        { 'embedding.model': model, 'embedding.purpose': 'query', 'embedding.chunks': 1 },
        () => embedder.embed([query]),
      );
      const vector = toVectorLiteral(embedded[0] ?? []);
      return this.db.withTenant(principal, (tx) =>
        vectorSearch(tx, vector, model, filter, limit, this.efSearchFactor),
      );
    });
  }
}
