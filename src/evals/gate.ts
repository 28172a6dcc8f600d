import { duplicateIds } from './dataset.js';
import type { RunResult, RunTotals } from './schemas.js';

/** Totals a threshold may name: `--fail-under score=0.8`, `passRate=0.9`. */
export const THRESHOLD_METRICS = ['score', 'passRate'] as const;
export type ThresholdMetric = (typeof THRESHOLD_METRICS)[number];
export type Thresholds = Partial<Record<ThresholdMetric, number>>;

export interface GateFailure {
  kind: 'threshold' | 'regression' | 'missing' | 'duplicate' | 'error';
  message: string;
}
export interface GateVerdict {
  ok: boolean;
  failures: GateFailure[];
}

/** Parses `score=0.8` (repeatable, or comma-separated) into thresholds. */
export function parseThresholds(specs: readonly string[]): Thresholds {
  const out: Thresholds = {};
  for (const spec of specs.flatMap((s) => s.split(','))) {
    const m = /^\s*([A-Za-z]+)\s*=\s*([0-9]*\.?[0-9]+)\s*$/u.exec(spec);
    const metric = THRESHOLD_METRICS.find((t) => t === m?.[1]);
    if (!m || !metric)
      throw new Error(`--fail-under takes ${THRESHOLD_METRICS.join('|')}=<0..1>, not "${spec}"`);
    out[metric] = Number(m[2]);
  }
  return out;
}

/**
 * The gate: fails when a threshold is missed, a case that passed in the baseline fails now, a
 * case of the dataset (or of the baseline) has no result or more than one, or any case errored
 * (a broken target or judge never passes silently).
 */
export function evaluateGate(
  result: RunResult,
  opts: { caseIds: readonly string[]; thresholds?: Thresholds; baseline?: RunResult | undefined },
): GateVerdict {
  const failures: GateFailure[] = [];
  const totals: RunTotals = result.totals;
  for (const metric of THRESHOLD_METRICS) {
    const min = opts.thresholds?.[metric];
    if (min !== undefined && totals[metric] < min)
      failures.push({
        kind: 'threshold',
        message: `${metric} ${totals[metric].toFixed(4)} is under ${min}`,
      });
  }
  for (const id of duplicateIds(result.cases))
    failures.push({ kind: 'duplicate', message: `case ${id} has more than one result` });
  const byId = new Map(result.cases.map((c) => [c.id, c]));
  const expected = new Set([...opts.caseIds, ...(opts.baseline?.cases.map((c) => c.id) ?? [])]);
  for (const id of expected)
    if (!byId.has(id))
      failures.push({
        kind: 'missing',
        message: `case ${id} has no result (removed from the dataset, or not run)`,
      });
  for (const c of result.cases)
    if (c.error !== undefined)
      failures.push({ kind: 'error', message: `case ${c.id} errored: ${c.error}` });
  for (const b of opts.baseline?.cases ?? []) {
    const now = byId.get(b.id);
    if (b.pass && now && !now.pass && now.error === undefined)
      failures.push({
        kind: 'regression',
        message: `case ${b.id} passed in the baseline and fails now`,
      });
  }
  return { ok: failures.length === 0, failures };
}

export interface CaseDiff {
  id: string;
  before?: { pass: boolean; score: number } | undefined;
  after?: { pass: boolean; score: number } | undefined;
  change: 'regressed' | 'fixed' | 'added' | 'removed' | 'score' | 'same';
}

/** Per-case differences between two results (a baseline and a new run). */
export function compareResults(a: RunResult, b: RunResult): CaseDiff[] {
  const before = new Map(a.cases.map((c) => [c.id, c]));
  const after = new Map(b.cases.map((c) => [c.id, c]));
  const ids = [...new Set([...before.keys(), ...after.keys()])];
  return ids.map((id) => {
    const x = before.get(id);
    const y = after.get(id);
    const pick = (c: typeof x): CaseDiff['before'] =>
      c ? { pass: c.pass, score: c.score } : undefined;
    const change: CaseDiff['change'] = !x
      ? 'added'
      : !y
        ? 'removed'
        : x.pass && !y.pass
          ? 'regressed'
          : !x.pass && y.pass
            ? 'fixed'
            : Math.abs(x.score - y.score) > 1e-9
              ? 'score'
              : 'same';
    return { id, before: pick(x), after: pick(y), change };
  });
}
