/**
 * Retrieval benchmark (not a test): ingests SciFact's corpus into a fresh tenant through the
 * real pipeline (DocumentService.accept → job queue → Ingestor), runs the queries of
 * qrels/train.tsv in each search mode, and prints nDCG@10, Recall@100, search latency p50/p95
 * and ingestion throughput — for the embedded database and, when DATABASE_URL is set (a
 * database migrated with `rampart migrate`), PostgreSQL, side by side.
 *
 * After ingesting, the bench refreshes planner statistics (rampart_analyze_knowledge(), what
 * autovacuum does on a server and the embedded worker does on its own), so every run starts
 * from the same state.
 *
 *   npx tsx bench/retrieval.ts [--queries N] [--embedded-queries N] [--modes keyword,vector,hybrid]
 *                              [--no-embedded] [--tune] [--ef F] [--data DIR]
 *
 * --data DIR             SciFact in BEIR layout (corpus.jsonl, queries.jsonl, qrels/train.tsv);
 *                        default ../shared/datasets/scifact/ beside the checkout. The set is
 *                        large and CC BY-NC, so it is not in the repository: without it the
 *                        bench says so and skips.
 * --queries N            only the first N queries (everywhere); --embedded-queries N only there
 * --tune                 picks hybrid's vector weight on the even-numbered queries and reports it
 *                        on the odd-numbered ones (held out) and on all
 * --ef F                 hnsw.ef_search per requested row (default: the service's)
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config.js';
import { LocalHashEmbedder } from '../src/knowledge/embed.js';
import { fixedEmbedder } from '../src/knowledge/models.js';
import {
  convexFusion,
  DEFAULT_VECTOR_WEIGHT,
  SearchService,
  type Scored,
} from '../src/knowledge/search.js';
import { DocumentService } from '../src/knowledge/service.js';
import { createWorker } from '../src/jobs.js';
import type { Database } from '../src/platform/db/database.js';
import { openDatabase, openEmbedded } from '../src/platform/db/open.js';
import type { Principal } from '../src/platform/http/principal.js';

const { values: args } = parseArgs({
  options: {
    queries: { type: 'string' },
    'embedded-queries': { type: 'string' },
    modes: { type: 'string', default: 'keyword,vector,hybrid' },
    'no-embedded': { type: 'boolean', default: false },
    tune: { type: 'boolean', default: false },
    ef: { type: 'string' },
    data: { type: 'string' },
  },
});
type Mode = 'keyword' | 'vector' | 'hybrid';
const modes = (args.modes ?? '').split(',').filter(Boolean) as Mode[];

const DATA = args.data
  ? pathToFileURL(`${args.data.replace(/\/+$/, '')}/`)
  : new URL('../../shared/datasets/scifact/', import.meta.url);
const missing = ['corpus.jsonl', 'queries.jsonl', 'qrels/train.tsv'].filter(
  (f) => !existsSync(new URL(f, DATA)),
);
if (missing.length > 0) {
  console.error(
    `bench:retrieval skipped: SciFact not found in ${fileURLToPath(DATA)} (missing ${missing.join(', ')}).\n` +
      'Pass --data DIR pointing at SciFact in BEIR layout (corpus.jsonl, queries.jsonl, qrels/train.tsv).',
  );
  process.exit(0);
}
const config = loadConfig({ ...process.env, QUEUE_CONCURRENCY: '4' });
const corpus = readFileSync(new URL('corpus.jsonl', DATA), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { _id: string; title: string; text: string });
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
const allQids = [...qrels.keys()].filter((q) => queries.has(q));

function ndcgAt10(ranked: string[], rel: Map<string, number>): number {
  const gain = (g: number): number => 2 ** g - 1;
  const dcg = ranked
    .slice(0, 10)
    .reduce((s, id, i) => s + gain(rel.get(id) ?? 0) / Math.log2(i + 2), 0);
  const ideal = [...rel.values()]
    .sort((a, b) => b - a)
    .slice(0, 10)
    .reduce((s, g, i) => s + gain(g) / Math.log2(i + 2), 0);
  return ideal > 0 ? dcg / ideal : 0;
}
function recallAt100(ranked: string[], rel: Map<string, number>): number {
  const relevant = [...rel.entries()].filter(([, g]) => g > 0).map(([id]) => id);
  const top = new Set(ranked.slice(0, 100));
  return relevant.filter((id) => top.has(id)).length / Math.max(1, relevant.length);
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

interface ModeResult {
  ndcg: number;
  recall: number;
  p50: number;
  p95: number;
}
interface RunResult {
  label: string;
  queries: number;
  docsPerSecond: number;
  failed: number;
  modes: Map<Mode, ModeResult>;
  /** Per query, the keyword and vector rankings (chunk id, score) for --tune. */
  lists: Map<Mode, Map<string, Scored[]>>;
  corpusIdsOf: (chunkIds: Scored[]) => string[];
}

/**
 * Refreshes planner statistics after the bulk load through the narrow SECURITY DEFINER function
 * (migration 0006; the app role may not ANALYZE). A server's autovacuum does this on its own,
 * later; without it the planner thinks the fresh tenant is empty.
 */
async function analyze(db: Database): Promise<void> {
  await db.withOperator((tx) => tx.query(`SELECT rampart_analyze_knowledge()`));
}

async function run(label: string, db: Database, limit: number): Promise<RunResult> {
  const slug = `bench-${Date.now().toString(36)}`;
  const { rows } = await db.withOperator((tx) =>
    tx.query<{ id: string }>(`SELECT rampart_create_tenant($1, $2) AS id`, [
      slug,
      'Retrieval bench',
    ]),
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
  const documents = new DocumentService(db, {
    maxBytes: config.DOCUMENT_MAX_BYTES,
    maxAttempts: 3,
  });
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
      { requestId: 'bench', ip: '127.0.0.1' },
    );
    corpusIdOf.set(id, [...(corpusIdOf.get(id) ?? []), d._id]);
  }
  const outcomes = await worker.drain(corpus.length * 2);
  const docsPerSecond = corpus.length / ((performance.now() - t0) / 1000);
  const failed = outcomes.filter((o) => o.state !== 'completed').length;
  await analyze(db);
  process.stdout.write(
    `${label}: ingested ${corpus.length} documents, ${docsPerSecond.toFixed(1)} documents/s\n`,
  );

  const search = new SearchService(db, fixedEmbedder(new LocalHashEmbedder()), {
    ...(args.ef ? { efSearchFactor: Number(args.ef) } : {}),
  });
  const docOfChunk = new Map<string, string>();
  // A document may have several chunks: rank documents by their best chunk.
  const corpusIdsOf = (hits: Scored[]): string[] => {
    const ranked: string[] = [];
    for (const h of hits)
      for (const cid of corpusIdOf.get(docOfChunk.get(h.id) ?? '') ?? [])
        if (!ranked.includes(cid)) ranked.push(cid);
    return ranked;
  };
  const qids = limit > 0 ? allQids.slice(0, limit) : allQids;
  const results = new Map<Mode, ModeResult>();
  const lists = new Map<Mode, Map<string, Scored[]>>();
  for (const mode of modes) {
    const ndcg: number[] = [];
    const recall: number[] = [];
    const latencies: number[] = [];
    const perQuery = new Map<string, Scored[]>();
    for (const qid of qids) {
      const started = performance.now();
      const { data } = await search.search(principal, {
        query: queries.get(qid) as string,
        k: 100,
        mode,
      });
      latencies.push(performance.now() - started);
      for (const h of data) docOfChunk.set(h.chunkId, h.documentId);
      const hits = data.map((h) => ({ id: h.chunkId, score: h.score }));
      perQuery.set(qid, hits);
      const rel = qrels.get(qid) as Map<string, number>;
      ndcg.push(ndcgAt10(corpusIdsOf(hits), rel));
      recall.push(recallAt100(corpusIdsOf(hits), rel));
    }
    lists.set(mode, perQuery);
    results.set(mode, {
      ndcg: mean(ndcg),
      recall: mean(recall),
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
    });
  }
  return { label, queries: qids.length, docsPerSecond, failed, modes: results, lists, corpusIdsOf };
}

/** Picks the vector weight on the even-numbered queries; reports it on the odd ones and on all. */
function tune(r: RunResult): void {
  const kw = r.lists.get('keyword');
  const vec = r.lists.get('vector');
  if (!kw || !vec) return;
  const qids = [...kw.keys()];
  const halves = {
    tune: qids.filter((_, i) => i % 2 === 0),
    held: qids.filter((_, i) => i % 2 === 1),
  };
  const score = (w: number, ids: string[]): number =>
    mean(
      ids.map((q) =>
        ndcgAt10(
          r.corpusIdsOf(convexFusion(kw.get(q) ?? [], vec.get(q) ?? [], w)),
          qrels.get(q) as Map<string, number>,
        ),
      ),
    );
  const grid = Array.from({ length: 21 }, (_, i) => i * 0.025);
  const best = grid.reduce((b, w) => (score(w, halves.tune) > score(b, halves.tune) ? w : b), 0);
  process.stdout.write(
    `\n--tune (${r.label}): vector weight w, nDCG@10 on tune half / held-out half / all\n`,
  );
  for (const w of [...new Set([0, best, DEFAULT_VECTOR_WEIGHT])].sort((a, b) => a - b))
    process.stdout.write(
      `  w=${w.toFixed(3)}${w === 0 ? ' (= keyword)' : ''}${w === best ? ' (best on tune half)' : ''}${w === DEFAULT_VECTOR_WEIGHT ? ' (default)' : ''}: ${score(w, halves.tune).toFixed(3)} / ${score(w, halves.held).toFixed(3)} / ${score(w, qids).toFixed(3)}\n`,
    );
}

const runs: RunResult[] = [];
const globalLimit = Number(args.queries ?? '0');
if (!args['no-embedded']) {
  const { db } = await openEmbedded(undefined);
  runs.push(await run('embedded PGlite', db, Number(args['embedded-queries'] ?? globalLimit)));
  await db.close();
}
if (config.DATABASE_URL) {
  const { db } = await openDatabase(config);
  runs.push(await run('PostgreSQL', db, globalLimit));
  await db.close();
}

process.stdout.write(
  `\nSciFact: ${corpus.length} documents, queries from qrels/train.tsv (k = 100)\n\n| database | mode | queries | nDCG@10 | Recall@100 | p50 ms | p95 ms | ingestion docs/s |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n`,
);
for (const r of runs)
  for (const [mode, m] of r.modes)
    process.stdout.write(
      `| ${r.label} | ${mode} | ${r.queries}${r.queries < allQids.length ? ` of ${allQids.length}` : ''} | ${m.ndcg.toFixed(3)} | ${m.recall.toFixed(3)} | ${m.p50.toFixed(1)} | ${m.p95.toFixed(1)} | ${r.docsPerSecond.toFixed(1)}${r.failed ? ` (${r.failed} failed)` : ''} |\n`,
    );
if (args.tune) for (const r of runs) tune(r);
