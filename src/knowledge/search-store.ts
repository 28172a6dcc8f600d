import type { TenantTx } from '../platform/db/database.js';

export interface SearchFilter {
  documentIds?: readonly string[] | undefined;
  tags?: readonly string[] | undefined;
  /**
   * The data classes the answering model may receive (decision 020): a chunk whose document has
   * a `class:<name>` tag not in this list is left out. null/undefined: no restriction.
   */
  allowedClasses?: readonly string[] | null | undefined;
}

/**
 * The data-class condition on documents `d` (or, for postings, the chunk's document), with the
 * allowed classes as parameter $n (NULL: every class allowed).
 */
const classFilter = (n: number, doc: string): string =>
  `($${n}::text[] IS NULL OR NOT EXISTS (
     SELECT 1 FROM documents cd, unnest(cd.tags) ct
      WHERE cd.id = ${doc} AND ct LIKE 'class:%' AND substr(ct, 7) <> ALL ($${n}::text[])))`;
const classParam = (f: SearchFilter): string[] | null =>
  f.allowedClasses ? [...f.allowedClasses] : null;

export interface HitRow {
  chunk_id: string;
  document_id: string;
  title: string;
  text: string;
  page_from: number | null;
  page_to: number | null;
  heading_path: string[];
  score: number;
}

const HIT_COLUMNS = `c.id AS chunk_id, c.document_id, d.title, c.text, c.page_from, c.page_to, c.heading_path`;
// Filters shared by both rankings; $1 tenant, $2 document ids, $3 tags.
const FILTER = `c.tenant_id = $1 AND d.status = 'ready'
  AND ($2::uuid[] IS NULL OR c.document_id = ANY ($2::uuid[]))
  AND ($3::text[] IS NULL OR d.tags && $3::text[])`;

const filterParams = (tx: TenantTx, f: SearchFilter): unknown[] => [
  tx.tenantId,
  f.documentIds?.length ? [...f.documentIds] : null,
  f.tags?.length ? [...f.tags] : null,
];

/**
 * hnsw.ef_search per requested row. Measured on SciFact with PostgreSQL (bench/retrieval.ts, k =
 * 100): 2 against 4 costs vector-only Recall@100 0.832 → 0.818 but leaves hybrid's unchanged
 * (0.919 / 0.920) and cuts vector p50 from 41 to 8 ms.
 */
export const EF_SEARCH_FACTOR = 2;

/** Nearest chunks by cosine distance (HNSW), among the chunks RLS lets this transaction see. */
export async function vectorSearch(
  tx: TenantTx,
  vector: string,
  model: string,
  f: SearchFilter,
  limit: number,
  efFactor = EF_SEARCH_FACTOR,
): Promise<HitRow[]> {
  // The HNSW index is shared by all tenants, and RLS and filters prune its candidates after the
  // scan: with iterative scanning (pgvector 0.8) the scan goes on until the page is full, in
  // order, rather than returning a short page when another tenant's vectors are nearer.
  await tx.query(
    `SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true)`,
    [String(Math.min(1000, Math.max(40, limit * efFactor)))],
  );
  const { rows } = await tx.query<HitRow>(
    `SELECT ${HIT_COLUMNS}, (1 - (c.embedding <=> $4::vector))::float8 AS score
       FROM chunks c JOIN documents d ON d.id = c.document_id
      WHERE ${FILTER} AND c.embedding_model = $5 AND c.embedding IS NOT NULL
        AND ${classFilter(7, 'c.document_id')}
      ORDER BY c.embedding <=> $4::vector
      LIMIT $6`,
    [...filterParams(tx, f), vector, model, limit, classParam(f)],
  );
  return rows;
}

// Keyword-side filters on postings ($1 tenant, $2 document ids, $3 tags): postings exist only
// for chunks of ready documents, so the documents table is touched only for a tag filter.
const POSTING_FILTER = `p.tenant_id = $1
  AND ($2::uuid[] IS NULL OR p.document_id = ANY ($2::uuid[]))
  AND ($3::text[] IS NULL OR EXISTS (SELECT 1 FROM documents d WHERE d.id = p.document_id AND d.tags && $3::text[]))`;

export interface CorpusStats {
  /** Chunks visible to this transaction (RLS: tenant and groups). */
  n: number;
  /** Their mean BM25 document length (indexed lexeme occurrences). */
  avgdl: number;
}

/** BM25's corpus statistics over the chunks this transaction can see. */
export async function corpusStats(tx: TenantTx): Promise<CorpusStats> {
  const { rows } = await tx.query<{ n: number; avgdl: number }>(
    `SELECT count(*)::float8 AS n, greatest(coalesce(avg(lex_len), 1), 1)::float8 AS avgdl
       FROM chunks c WHERE c.tenant_id = $1`,
    [tx.tenantId],
  );
  const r = rows[0];
  return { n: Number(r?.n ?? 0), avgdl: Number(r?.avgdl ?? 1) };
}

/**
 * Okapi BM25 over the english tsvector (stemmed, stop words removed), computed in SQL from the
 * postings table (chunk_terms, migration 0006): one index range per query lexeme gives each
 * matching chunk's term frequency and length, so no chunk's tsvector is read. Corpus size and
 * average length are the visible chunks' (corpusStats, cached by the caller); document
 * frequencies come from the visible postings that match, so a restricted document's words do
 * not even shape the scores of others.
 */
export async function keywordSearch(
  tx: TenantTx,
  query: string,
  f: SearchFilter,
  limit: number,
  corpus: CorpusStats,
  params: { k1: number; b: number } = { k1: 0.9, b: 0.4 },
): Promise<HitRow[]> {
  const { rows } = await tx.query<HitRow>(
    // lexeme = ANY on chunk_terms' (lexeme, tenant_id) key: one index range per query lexeme.
    `WITH hits AS MATERIALIZED (
       SELECT p.lexeme, p.chunk_id, p.lex_len, p.tf::float8 AS tf
         FROM chunk_terms p
        WHERE p.lexeme = ANY (tsvector_to_array(to_tsvector('english', $4)))
          AND ${POSTING_FILTER}
          AND ${classFilter(10, 'p.document_id')}
     ),
     -- Per query lexeme, once. A cached n may trail fresh ingestion: never below a term's df,
     -- so idf stays positive.
     idf AS (
       SELECT lexeme, ln(1 + (greatest($8::float8, count(*)) - count(*) + 0.5) / (count(*) + 0.5)) AS idf
         FROM hits GROUP BY lexeme
     ),
     scored AS (
       SELECT h.chunk_id AS id,
              sum(i.idf * (h.tf * ($6::float8 + 1))
                  / (h.tf + $6::float8 * (1 - $7::float8 + $7::float8 * h.lex_len / $9::float8))) AS score
         FROM hits h JOIN idf i ON i.lexeme = h.lexeme
        GROUP BY h.chunk_id
        ORDER BY score DESC
        LIMIT $5
     )
     SELECT ${HIT_COLUMNS}, s.score::float8 AS score
       FROM scored s JOIN chunks c ON c.id = s.id JOIN documents d ON d.id = c.document_id
      ORDER BY s.score DESC, c.id`,
    [
      ...filterParams(tx, f),
      query,
      limit,
      params.k1,
      params.b,
      corpus.n,
      corpus.avgdl,
      classParam(f),
    ],
  );
  return rows;
}
