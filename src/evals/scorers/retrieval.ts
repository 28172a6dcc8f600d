import type { CheckResult } from '../schemas.js';

/** A retrieved or cited item: the document it belongs to. */
export interface SourceRef {
  documentId: string;
  title: string;
}

/** An expected source names a document by id or by title (titles compare case-insensitively). */
export function isExpected(ref: SourceRef, expected: readonly string[]): string | undefined {
  const title = ref.title.trim().toLowerCase();
  return expected.find((e) => e === ref.documentId || e.trim().toLowerCase() === title);
}

/** The ranked documents, each once at its first rank (chunk lists repeat documents). */
function rankedDocuments(ranked: readonly SourceRef[]): SourceRef[] {
  const seen = new Set<string>();
  return ranked.filter((r) => (seen.has(r.documentId) ? false : (seen.add(r.documentId), true)));
}

/** Share of the expected sources found in the top k documents. */
export function recallAtK(
  ranked: readonly SourceRef[],
  expected: readonly string[],
  k: number,
): number {
  const found = new Set<string>();
  for (const r of rankedDocuments(ranked).slice(0, k)) {
    const e = isExpected(r, expected);
    if (e !== undefined) found.add(e);
  }
  return found.size / expected.length;
}

/** Reciprocal rank of the first expected document (0 when none is retrieved). */
export function reciprocalRank(ranked: readonly SourceRef[], expected: readonly string[]): number {
  const i = rankedDocuments(ranked).findIndex((r) => isExpected(r, expected) !== undefined);
  return i < 0 ? 0 : 1 / (i + 1);
}

/** nDCG@k with binary gains: DCG of the ranking over the DCG of an ideal one. */
export function ndcgAtK(ranked: readonly SourceRef[], expected: readonly string[], k = 10): number {
  const credited = new Set<string>();
  let dcg = 0;
  rankedDocuments(ranked)
    .slice(0, k)
    .forEach((r, i) => {
      const e = isExpected(r, expected);
      if (e === undefined || credited.has(e)) return;
      credited.add(e);
      dcg += 1 / Math.log2(i + 2);
    });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, expected.length); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** Share of citations that point into an expected source (0 when nothing is cited). */
export function citationPrecision(
  cited: readonly SourceRef[],
  expected: readonly string[],
): number {
  if (cited.length === 0) return 0;
  return cited.filter((c) => isExpected(c, expected) !== undefined).length / cited.length;
}

/** The retrieval checks of a case: recall@k (pass mark minRecall), MRR and nDCG@10 (reported). */
export function retrievalChecks(
  ranked: readonly SourceRef[],
  expected: readonly string[],
  opts: { k: number; minRecall: number },
): CheckResult[] {
  const recall = recallAtK(ranked, expected, opts.k);
  const mrr = reciprocalRank(ranked, expected);
  const ndcg = ndcgAtK(ranked, expected, 10);
  return [
    {
      name: `recall@${opts.k}`,
      pass: recall >= opts.minRecall,
      score: recall,
      detail: `${recall.toFixed(3)} (pass mark ${opts.minRecall})`,
    },
    // Rank quality is reported and averaged into the score; recall is the pass mark.
    { name: 'mrr', pass: true, score: mrr, detail: mrr.toFixed(3) },
    { name: 'ndcg@10', pass: true, score: ndcg, detail: ndcg.toFixed(3) },
  ];
}

/** The citation check of an answer. */
export function citationCheck(
  cited: readonly SourceRef[],
  expected: readonly string[],
  minPrecision: number,
): CheckResult {
  const p = citationPrecision(cited, expected);
  return {
    name: 'citationPrecision',
    pass: p >= minPrecision && cited.length > 0,
    score: p,
    detail: cited.length === 0 ? 'no citations' : `${p.toFixed(3)} of ${cited.length} citations`,
  };
}
