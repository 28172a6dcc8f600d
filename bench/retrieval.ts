/**
 * Retrieval benchmark (not a test): ingests SciFact's corpus into a fresh tenant through the
 * real pipeline (DocumentService.accept → job queue → Ingestor), runs the queries of
 * qrels/train.tsv in each search mode, and prints nDCG@10, Recall@100, search latency p50/p95
 * and ingestion throughput.
 *
 *   npx tsx bench/retrieval.ts                 embedded database (in memory)
 *   DATABASE_URL=… npx tsx bench/retrieval.ts  PostgreSQL (migrated with `rampart migrate`)
 *   BENCH_LIMIT_QUERIES=100 …                  a quicker partial run
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { LocalHashEmbedder } from '../src/knowledge/embed.js';
import { SearchService } from '../src/knowledge/search.js';
import { DocumentService } from '../src/knowledge/service.js';
import { createWorker } from '../src/knowledge/worker.js';
import { openDatabase, openEmbedded } from '../src/platform/db/open.js';
import type { Principal } from '../src/platform/http/principal.js';

const DATA = new URL('../../shared/datasets/scifact/', import.meta.url);
const config = loadConfig({ ...process.env, QUEUE_CONCURRENCY: '4' });
const limitQueries = Number(process.env.BENCH_LIMIT_QUERIES ?? '0');

const { db } = config.DATABASE_URL ? await openDatabase(config) : await openEmbedded(undefined);
const slug = `bench-${Date.now().toString(36)}`;
const { rows } = await db.withOperator((tx) =>
  tx.query<{ id: string }>(`SELECT rampart_create_tenant($1, $2) AS id`, [slug, 'Retrieval bench']),
);
const tenantId = (rows[0] as { id: string }).id;
const principal: Principal = {
  kind: 'api_key',
  tenantId,
  tenantSlug: slug,
  userId: null,
  keyId: null,
  role: 'owner',
  permissions: new Set(['documents:read', 'documents:write']),
  groups: [],
};
const meta = { requestId: 'bench', ip: '127.0.0.1' };

// Ingest.
const corpus = readFileSync(new URL('corpus.jsonl', DATA), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { _id: string; title: string; text: string });
const documents = new DocumentService(db, { maxBytes: config.DOCUMENT_MAX_BYTES, maxAttempts: 3 });
const worker = createWorker(db, config);
const corpusIdOf = new Map<string, string[]>();
const t0 = performance.now();
for (const d of corpus) {
  const { id } = await documents.accept(
    principal,
    {
      title: d.title.slice(0, 500) || d._id,
      content: Buffer.from(`${d.title}\n\n${d.text}`),
      declaredType: 'text',
    },
    meta,
  );
  corpusIdOf.set(id, [...(corpusIdOf.get(id) ?? []), d._id]);
}
const outcomes = await worker.drain(corpus.length * 2);
const ingestSeconds = (performance.now() - t0) / 1000;
const failed = outcomes.filter((o) => o.state !== 'completed').length;
process.stdout.write(
  `ingested ${corpus.length} documents in ${ingestSeconds.toFixed(1)} s: ${(corpus.length / ingestSeconds).toFixed(1)} documents/s (${failed} jobs not completed)\n`,
);

// Queries and judgements.
const queries = new Map(
  readFileSync(new URL('queries.jsonl', DATA), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { _id: string; text: string })
    .map((q) => [q._id, q.text]),
);
const qrels = new Map<string, Map<string, number>>();
for (const line of readFileSync(new URL('qrels/train.tsv', DATA), 'utf8').split('\n').slice(1)) {
  const [qid, cid, score] = line.split('\t');
  if (!qid || !cid) continue;
  const m = qrels.get(qid) ?? new Map<string, number>();
  m.set(cid, Number(score));
  qrels.set(qid, m);
}
let qids = [...qrels.keys()].filter((q) => queries.has(q));
if (limitQueries > 0) qids = qids.slice(0, limitQueries);

function ndcgAt10(ranked: string[], rel: Map<string, number>): number {
  const dcg = ranked
    .slice(0, 10)
    .reduce(
      (s, id, i) =>
        s + ((rel.get(id) ?? 0) > 0 ? (2 ** (rel.get(id) ?? 0) - 1) / Math.log2(i + 2) : 0),
      0,
    );
  const ideal = [...rel.values()]
    .sort((a, b) => b - a)
    .slice(0, 10)
    .reduce((s, g, i) => s + (2 ** g - 1) / Math.log2(i + 2), 0);
  return ideal > 0 ? dcg / ideal : 0;
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

const search = new SearchService(db, new LocalHashEmbedder());
process.stdout.write(
  `\n${qids.length} queries, database: ${config.DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}\n\n| mode | nDCG@10 | Recall@100 | p50 ms | p95 ms |\n| --- | --- | --- | --- | --- |\n`,
);
for (const mode of ['keyword', 'vector', 'hybrid'] as const) {
  let ndcg = 0;
  let recall = 0;
  const latencies: number[] = [];
  for (const qid of qids) {
    const started = performance.now();
    const { data } = await search.search(principal, {
      query: queries.get(qid) as string,
      k: 100,
      mode,
    });
    latencies.push(performance.now() - started);
    // A document may have several chunks: rank documents by their best chunk.
    const ranked: string[] = [];
    for (const h of data)
      for (const cid of corpusIdOf.get(h.documentId) ?? [])
        if (!ranked.includes(cid)) ranked.push(cid);
    const rel = qrels.get(qid) as Map<string, number>;
    ndcg += ndcgAt10(ranked, rel);
    const relevant = [...rel.entries()].filter(([, g]) => g > 0).map(([id]) => id);
    recall +=
      relevant.filter((id) => ranked.slice(0, 100).includes(id)).length /
      Math.max(1, relevant.length);
  }
  process.stdout.write(
    `| ${mode} | ${(ndcg / qids.length).toFixed(3)} | ${(recall / qids.length).toFixed(3)} | ${pct(latencies, 50).toFixed(1)} | ${pct(latencies, 95).toFixed(1)} |\n`,
  );
}
await db.close();
