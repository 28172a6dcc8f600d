import { describe, expect, it } from 'vitest';
import {
  citationCheck,
  citationPrecision,
  ndcgAtK,
  recallAtK,
  reciprocalRank,
  retrievalChecks,
} from './retrieval.js';

const doc = (id: string, title = `Title ${id}`) => ({ documentId: id, title });
// Chunks of d3 twice, then d1, d2, d5: documents ranked d3, d1, d2, d5.
const ranked = [doc('d3'), doc('d3'), doc('d1'), doc('d2'), doc('d5')];

describe('retrieval scorers', () => {
  it('recall@k counts expected documents in the top k documents (chunks of one document once)', () => {
    expect(recallAtK(ranked, ['d1', 'd2'], 3)).toBe(1);
    expect(recallAtK(ranked, ['d1', 'd2'], 2)).toBe(0.5);
    expect(recallAtK(ranked, ['d9'], 10)).toBe(0);
  });

  it('matches expected sources by id or by title, case-insensitively', () => {
    expect(recallAtK(ranked, ['title d2'], 3)).toBe(1);
  });

  it('MRR is the reciprocal rank of the first expected document', () => {
    expect(reciprocalRank(ranked, ['d3'])).toBe(1);
    expect(reciprocalRank(ranked, ['d2', 'd5'])).toBeCloseTo(1 / 3);
    expect(reciprocalRank(ranked, ['d9'])).toBe(0);
  });

  it('nDCG@10 with binary gains against the ideal ranking', () => {
    expect(ndcgAtK(ranked, ['d3'], 10)).toBe(1);
    // d1 at rank 2 of one relevant: (1/log2(3)) / 1.
    expect(ndcgAtK(ranked, ['d1'], 10)).toBeCloseTo(1 / Math.log2(3));
    // d1 (rank 2) and d5 (rank 4) of two relevant.
    const dcg = 1 / Math.log2(3) + 1 / Math.log2(5);
    expect(ndcgAtK(ranked, ['d1', 'd5'], 10)).toBeCloseTo(dcg / (1 + 1 / Math.log2(3)));
    expect(ndcgAtK(ranked, ['d9'], 10)).toBe(0);
  });

  it('citation precision: cited chunks inside expected sources over all cited', () => {
    expect(citationPrecision([doc('d1'), doc('d1'), doc('d4'), doc('d2')], ['d1', 'd2'])).toBe(
      0.75,
    );
    expect(citationPrecision([], ['d1'])).toBe(0);
    expect(citationCheck([doc('d4')], ['d1'], 0.5)).toMatchObject({ pass: false, score: 0 });
    expect(citationCheck([], ['d1'], 0)).toMatchObject({ pass: false, detail: 'no citations' });
    expect(citationCheck([doc('d1')], ['d1'], 0.5)).toMatchObject({ pass: true, score: 1 });
  });

  it('the recall check passes at its pass mark; MRR and nDCG are reported', () => {
    const [recall, mrr, ndcg] = retrievalChecks(ranked, ['d2', 'd9'], { k: 5, minRecall: 0.5 });
    expect(recall).toMatchObject({ name: 'recall@5', pass: true, score: 0.5 });
    expect(mrr).toMatchObject({ name: 'mrr', score: 1 / 3 });
    expect(ndcg?.name).toBe('ndcg@10');
    expect(retrievalChecks(ranked, ['d9'], { k: 5, minRecall: 1 })[0]).toMatchObject({
      pass: false,
      score: 0,
    });
  });
});
