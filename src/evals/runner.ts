import type { RampartClient } from './client.js';
import type { Dataset } from './dataset.js';
import { Judge } from './judges.js';
import type { CaseResult, EvalCase, RunResult, RunTotals } from './schemas.js';
import { caseResult, deterministicChecks, judgedChecks } from './score.js';
import { observe, TargetFailed } from './targets.js';

export interface RunOptions {
  concurrency?: number;
  /** Each case runs this many times; a case passes when the majority of its runs pass. */
  repeats?: number;
  /** The tenant alias judges call through the gateway; judged checks error without one. */
  judgeModel?: string | undefined;
  judgeRepeats?: number;
  /** Errors a case's target answers with are recorded on the case; other errors abort the run. */
  agentTimeoutMs?: number;
}

async function runOnce(
  client: RampartClient,
  c: EvalCase,
  judge: Judge | undefined,
  opts: RunOptions,
): Promise<CaseResult> {
  let obs;
  try {
    obs = await observe(client, c, opts);
  } catch (err) {
    if (!(err instanceof TargetFailed)) throw err;
    return {
      id: c.id,
      target: c.target,
      pass: false,
      score: 0,
      checks: [],
      error: err.message,
      costUsd: 0,
      latencyMs: 0,
    };
  }
  return caseResult(c, obs, [
    ...deterministicChecks(c, obs),
    ...(await judgedChecks(c, obs, judge)),
  ]);
}

/** Several runs of one case as one result: majority pass, mean score, any error kept. */
export function mergeRepeats(runs: readonly CaseResult[]): CaseResult {
  const first = runs[0];
  if (!first) throw new Error('mergeRepeats needs at least one run');
  if (runs.length === 1) return first;
  const passes = runs.filter((r) => r.pass).length;
  const error = runs.find((r) => r.error !== undefined)?.error;
  const mean = (f: (r: CaseResult) => number): number =>
    runs.reduce((s, r) => s + f(r), 0) / runs.length;
  return {
    ...first,
    pass: error === undefined && passes * 2 > runs.length,
    score: mean((r) => r.score),
    costUsd: runs.reduce((s, r) => s + r.costUsd, 0),
    latencyMs: mean((r) => r.latencyMs),
    ...(error !== undefined ? { error } : {}),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Totals of a run: counts, mean score, pass rate, cost and latency percentiles. */
export function totalsOf(cases: readonly CaseResult[]): RunTotals {
  const n = cases.length;
  const latencies = cases.map((c) => c.latencyMs).sort((a, b) => a - b);
  const passed = cases.filter((c) => c.pass).length;
  const errored = cases.filter((c) => c.error !== undefined).length;
  return {
    cases: n,
    passed,
    failed: n - passed - errored,
    errored,
    score: n === 0 ? 0 : cases.reduce((s, c) => s + c.score, 0) / n,
    passRate: n === 0 ? 0 : passed / n,
    costUsd: cases.reduce((s, c) => s + c.costUsd, 0),
    latencyMsP50: percentile(latencies, 50),
    latencyMsP95: percentile(latencies, 95),
  };
}

/** Runs every case of the dataset through the client, `concurrency` at a time, in case order. */
export async function runDataset(
  client: RampartClient,
  dataset: Dataset,
  opts: RunOptions = {},
): Promise<RunResult> {
  const repeats = Math.max(1, opts.repeats ?? 1);
  const judge = opts.judgeModel
    ? new Judge(client, opts.judgeModel, opts.judgeRepeats ?? 1)
    : undefined;
  const startedAt = new Date().toISOString();
  const results: CaseResult[] = new Array<CaseResult>(dataset.cases.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < dataset.cases.length; i = next++) {
      const c = dataset.cases[i];
      if (!c) continue;
      const runs: CaseResult[] = [];
      for (let r = 0; r < repeats; r++) runs.push(await runOnce(client, c, judge, opts));
      results[i] = mergeRepeats(runs);
    }
  };
  const width = Math.max(1, Math.min(opts.concurrency ?? 4, dataset.cases.length));
  await Promise.all(Array.from({ length: width }, worker));
  return {
    dataset: {
      name: dataset.name,
      ...(dataset.version !== undefined ? { version: dataset.version } : {}),
      hash: dataset.hash,
    },
    startedAt,
    repeats,
    cases: results,
    totals: totalsOf(results),
  };
}
