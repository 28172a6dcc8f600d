import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDatasetFile, RunResult } from '../src/evals/index.js';
import { SELF_GATE } from '../scripts/eval-self-gate.js';

/**
 * The committed self-gate (run in full by `.ci/run` as `npm run eval:self-gate`) stays
 * consistent: its baseline covers exactly the golden set's cases, and its thresholds sit at or
 * under the baseline's totals, so an unchanged system passes it.
 */
describe('the self-gate golden set', () => {
  const dataset = parseDatasetFile(SELF_GATE.dataset, readFileSync(SELF_GATE.dataset, 'utf8'));
  const baseline = RunResult.parse(JSON.parse(readFileSync(SELF_GATE.baseline, 'utf8')));
  const gate = JSON.parse(readFileSync(SELF_GATE.gate, 'utf8')) as {
    failUnder: { score: number; passRate: number };
  };

  it('covers PDFs and SciFact with deterministic checks only (no model needed)', () => {
    const ids = dataset.cases.map((c) => c.id);
    expect(ids.filter((id) => id.startsWith('pdf:')).length).toBeGreaterThanOrEqual(8);
    expect(ids.filter((id) => id.startsWith('scifact:')).length).toBeGreaterThanOrEqual(10);
    for (const c of dataset.cases) {
      expect(c.expect.rubric, c.id).toBeUndefined();
      expect(c.expect.faithfulness, c.id).toBeUndefined();
      expect(c.expect.relevance, c.id).toBeUndefined();
    }
  });

  it('has a baseline of exactly its cases, scored on this version of the set', () => {
    expect(baseline.cases.map((c) => c.id)).toEqual(dataset.cases.map((c) => c.id));
    expect(baseline.dataset.hash).toBe(dataset.hash);
    expect(baseline.cases.every((c) => c.error === undefined)).toBe(true);
  });

  it('has thresholds the baseline meets', () => {
    expect(baseline.totals.score).toBeGreaterThanOrEqual(gate.failUnder.score);
    expect(baseline.totals.passRate).toBeGreaterThanOrEqual(gate.failUnder.passRate);
  });
});
