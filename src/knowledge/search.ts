import { z } from 'zod';
import type { Database } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import { toVectorLiteral, type EmbeddingProvider } from './embed.js';
import { keywordSearch, vectorSearch, type HitRow } from './search-store.js';

export const SearchBody = z.object({
  query: z.string().trim().min(1).max(2000),
  k: z.number().int().min(1).max(100).default(10),
  mode: z.enum(['hybrid', 'vector', 'keyword']).default('hybrid'),
  filter: z
    .object({
      documentIds: z.array(z.uuid()).max(100).optional(),
      tags: z.array(z.string().min(1).max(64)).max(50).optional(),
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
  constructor(
    private readonly db: Database,
    private readonly embedder: EmbeddingProvider,
    /**
     * Weight of the vector ranking in hybrid fusion (BM25's is 1). The built-in embedder is
     * lexical, a noisier view of what BM25 already ranks, so by default it mostly breaks ties
     * and adds what keyword search misses; raise it for a semantic embedding model.
     */
    private readonly vectorWeight = 0.05,
  ) {}

  async search(
    principal: Principal,
    body: SearchBody,
  ): Promise<{ mode: string; data: SearchHit[] }> {
    const { query, k, mode } = body;
    const filter = body.filter ?? {};
    const pool = mode === 'hybrid' ? Math.max(50, k * 4) : k;
    const vector =
      mode === 'keyword'
        ? undefined
        : toVectorLiteral((await this.embedder.embed([query]))[0] ?? []);
    const [byVector, byKeyword] = await this.db.withTenant(principal, async (tx) => [
      vector ? await vectorSearch(tx, vector, this.embedder.model, filter, pool) : [],
      mode === 'vector' ? [] : await keywordSearch(tx, query, filter, pool),
    ]);
    if (mode === 'vector') return { mode, data: byVector.map((r) => hit(r, Number(r.score))) };
    if (mode === 'keyword') return { mode, data: byKeyword.map((r) => hit(r, Number(r.score))) };
    const rows = new Map<string, HitRow>();
    for (const r of [...byVector, ...byKeyword]) rows.set(r.chunk_id, r);
    const fused = reciprocalRankFusion(
      [byKeyword.map((r) => r.chunk_id), byVector.map((r) => r.chunk_id)],
      [1, this.vectorWeight],
    );
    const data = [...fused.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, k)
      .map(([id, score]) => hit(rows.get(id) as HitRow, score));
    return { mode, data };
  }
}
