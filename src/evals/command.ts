import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { RampartClient } from './client.js';
import { datasetFromCases, DatasetInvalid, parseDatasetFile, type Dataset } from './dataset.js';
import { compareResults, evaluateGate, parseThresholds, type Thresholds } from './gate.js';
import { formatDiff, formatRun, junitXml } from './report.js';
import { runDataset } from './runner.js';
import { RunResult } from './schemas.js';

/** Exit codes of `rampart eval run`: 0 the gate passed, 1 it failed, 2 usage error. */
export const EXIT = { passed: 0, failed: 1, usage: 2 } as const;

export interface EvalRunOptions {
  dataset: string;
  concurrency?: number | undefined;
  repeats?: number | undefined;
  baseline?: string | undefined;
  failUnder?: string[] | undefined;
  out?: string | undefined;
  junit?: string | undefined;
  judgeModel?: string | undefined;
  judgeRepeats?: number | undefined;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const StoredDataset = z.object({
  name: z.string(),
  version: z.number(),
  cases: z.array(z.unknown()),
});

/** A dataset file, or a stored dataset (id or name) read through the API. */
async function loadDataset(client: RampartClient, ref: string): Promise<Dataset> {
  if (existsSync(ref)) return parseDatasetFile(ref, await readFile(ref, 'utf8'));
  const res = await client('GET', `/v1/evals/datasets/${encodeURIComponent(ref)}`);
  if (res.status !== 200)
    throw new DatasetInvalid(`no dataset file or stored dataset "${ref}" (${res.status})`);
  const d = StoredDataset.parse(res.body);
  return datasetFromCases(d.name, d.cases, d.version);
}

async function readResult(file: string): Promise<RunResult> {
  return RunResult.parse(JSON.parse(await readFile(file, 'utf8')));
}

/**
 * `rampart eval run`: runs the dataset through the client, prints the table, writes the result
 * and JUnit files, and returns the exit code of the gate (see EXIT).
 */
export async function evalRun(
  client: RampartClient,
  opts: EvalRunOptions,
  io: Io,
): Promise<number> {
  let thresholds: Thresholds;
  let baseline: RunResult | undefined;
  try {
    thresholds = parseThresholds(opts.failUnder ?? []);
    baseline = opts.baseline ? await readResult(opts.baseline) : undefined;
  } catch (err) {
    io.err(`rampart: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  let dataset: Dataset;
  try {
    dataset = await loadDataset(client, opts.dataset);
  } catch (err) {
    // A duplicated or invalid case fails the gate: a golden set that cannot be read gates nothing.
    if (!(err instanceof DatasetInvalid)) throw err;
    io.err(`rampart: dataset ${opts.dataset}: ${err.message}\ngate: FAILED\n`);
    return EXIT.failed;
  }
  const result = await runDataset(client, dataset, {
    concurrency: opts.concurrency,
    repeats: opts.repeats,
    judgeModel: opts.judgeModel,
    judgeRepeats: opts.judgeRepeats,
  });
  const verdict = evaluateGate(result, {
    caseIds: dataset.cases.map((c) => c.id),
    thresholds,
    baseline,
  });
  io.out(`${formatRun(result, verdict)}\n`);
  if (opts.out) await writeFile(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  if (opts.junit) await writeFile(opts.junit, junitXml(result));
  return verdict.ok ? EXIT.passed : EXIT.failed;
}

/** `rampart eval compare a.json b.json`: per-case differences; exit 1 when a case regressed. */
export async function evalCompare(a: string, b: string, io: Io): Promise<number> {
  let before: RunResult;
  let after: RunResult;
  try {
    [before, after] = await Promise.all([readResult(a), readResult(b)]);
  } catch (err) {
    io.err(`rampart: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  const diffs = compareResults(before, after);
  io.out(`${formatDiff(diffs)}\n`);
  return diffs.some((d) => d.change === 'regressed' || d.change === 'removed')
    ? EXIT.failed
    : EXIT.passed;
}
