import { describe, expect, it } from 'vitest';
import { compareResults, evaluateGate, parseThresholds } from './gate.js';
import { formatRun, junitXml } from './report.js';
import { mergeRepeats, totalsOf } from './runner.js';
import type { CaseResult, RunResult } from './schemas.js';

const res = (id: string, pass: boolean, extra: Partial<CaseResult> = {}): CaseResult => ({
  id,
  target: 'ask',
  pass,
  score: pass ? 1 : 0,
  checks: [{ name: 'contains', pass, score: pass ? 1 : 0 }],
  costUsd: 0.001,
  latencyMs: 10,
  ...extra,
});
const run = (cases: CaseResult[]): RunResult => ({
  dataset: { name: 'd', hash: 'h' },
  startedAt: '2026-01-01T00:00:00.000Z',
  repeats: 1,
  cases,
  totals: totalsOf(cases),
});

describe('the gate', () => {
  it('passes a clean run; fails on each threshold it misses', () => {
    const r = run([res('a', true), res('b', false)]);
    expect(evaluateGate(r, { caseIds: ['a', 'b'] })).toEqual({ ok: true, failures: [] });
    const v = evaluateGate(r, {
      caseIds: ['a', 'b'],
      thresholds: parseThresholds(['score=0.6,passRate=0.4']),
    });
    expect(v.failures).toEqual([{ kind: 'threshold', message: 'score 0.5000 is under 0.6' }]);
  });

  it('fails on a regression, a missing case, a duplicate and an error', () => {
    const baseline = run([res('a', true), res('b', true), res('gone', true)]);
    const now = run([
      res('a', false),
      res('b', true),
      res('b', true),
      res('c', false, { error: 'judge:rubric: malformed verdict' }),
    ]);
    const kinds = evaluateGate(now, { caseIds: ['a', 'b', 'c'], baseline }).failures.map(
      (f) => `${f.kind} ${f.message}`,
    );
    expect(kinds).toEqual([
      'duplicate case b has more than one result',
      'missing case gone has no result (removed from the dataset, or not run)',
      'error case c errored: judge:rubric: malformed verdict',
      'regression case a passed in the baseline and fails now',
    ]);
  });

  it('refuses thresholds it does not know', () => {
    expect(() => parseThresholds(['accuracy=0.9'])).toThrow(/--fail-under/);
    expect(() => parseThresholds(['score=high'])).toThrow(/--fail-under/);
  });

  it('compares two runs case by case', () => {
    const a = run([res('x', true), res('y', false), res('z', true), res('gone', true)]);
    const b = run([
      res('x', false),
      res('y', true),
      res('z', true, { score: 0.5 }),
      res('new', true),
    ]);
    expect(compareResults(a, b).map((d) => [d.id, d.change])).toEqual([
      ['x', 'regressed'],
      ['y', 'fixed'],
      ['z', 'score'],
      ['gone', 'removed'],
      ['new', 'added'],
    ]);
  });

  it('merges repeats by majority and keeps any error', () => {
    expect(mergeRepeats([res('a', true), res('a', false), res('a', true)]).pass).toBe(true);
    expect(mergeRepeats([res('a', true), res('a', false)]).pass).toBe(false);
    const errored = mergeRepeats([res('a', true), res('a', true, { error: 'boom' })]);
    expect(errored).toMatchObject({ pass: false, error: 'boom', costUsd: 0.002 });
  });

  it('totals, the table and JUnit', () => {
    const r = run([
      res('a', true, { latencyMs: 5 }),
      res('b<&>', false, { latencyMs: 20 }),
      res('c', false, { error: 'down' }),
    ]);
    expect(r.totals).toMatchObject({
      cases: 3,
      passed: 1,
      failed: 1,
      errored: 1,
      latencyMsP50: 10,
      latencyMsP95: 20,
    });
    expect(formatRun(r)).toMatch(/c\s+ERROR\s+0\.000/);
    const xml = junitXml(r);
    expect(xml).toContain('<testsuites tests="3" failures="1" errors="1">');
    expect(xml).toContain('name="b&lt;&amp;&gt;"');
    expect(xml).toContain('<error message="down"/>');
  });
});
