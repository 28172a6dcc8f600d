import { z } from 'zod';
import type { RampartClient } from './client.js';
import type { Io } from './command.js';
import { Judge } from './judges.js';
import { caseResult, deterministicChecks, judgedChecks } from './score.js';
import { EvalCase, Expect } from './schemas.js';
import { ReplayView } from '../copilot/index.js';

/** `rampart eval replay` exit codes: 0 reproduced / passed, 1 diverged / failed, 2 usage. */
const EXIT = { passed: 0, failed: 1, usage: 2 } as const;

export interface EvalReplayOptions {
  run: string;
  mode: string;
  model?: string | undefined;
  instructions?: string | undefined;
  /** Parametric: the expectations (a dataset case's `expect`, JSON); default: the recorded tools. */
  expect?: string | undefined;
  judgeModel?: string | undefined;
  /** Stress: replays in all, and at once. */
  episodes?: number | undefined;
  concurrency?: number | undefined;
}

// The route's own answer schema: what the CLI parses is what the server promises.
const Outcome = ReplayView;
type Outcome = z.infer<typeof ReplayView>;

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v ?? null));

/** The replay through the API (POST /v1/runs/:id/replay): the caller's permissions and RLS apply. */
async function replayOnce(
  client: RampartClient,
  opts: EvalReplayOptions,
  mode: 'exact' | 'parametric',
): Promise<Outcome> {
  const res = await client('POST', `/v1/runs/${encodeURIComponent(opts.run)}/replay`, {
    mode,
    ...(opts.model !== undefined ? { model: opts.model } : {}),
    ...(opts.instructions !== undefined ? { instructions: opts.instructions } : {}),
  });
  if (res.status !== 200)
    throw new Error(`the replay answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
  return Outcome.parse(res.body);
}

/** The user's question of the recorded input (the last user message), for the judges. */
function questionOf(input: unknown): string {
  const msgs = z.array(z.object({ role: z.string(), content: z.string() })).safeParse(input);
  if (!msgs.success) return text(input);
  return msgs.data.filter((m) => m.role === 'user').at(-1)?.content ?? '';
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/**
 * `rampart eval replay --run <id> --mode exact|parametric|stress` (decision 024): exact checks the
 * runtime reaches the recorded decisions and output from the recorded model and tool outputs;
 * parametric replays with another model alias or instructions (recorded tool outputs) and
 * scores the result with the dataset scorers; stress replays N episodes at once and prints the
 * throughput. No tool is ever called: a call the recording lacks fails the replay.
 */
export async function evalReplay(
  client: RampartClient,
  opts: EvalReplayOptions,
  io: Io,
): Promise<number> {
  const mode = opts.mode;
  if (mode !== 'exact' && mode !== 'parametric' && mode !== 'stress') {
    io.err('rampart: --mode is exact, parametric or stress\n');
    return EXIT.usage;
  }
  if (mode === 'parametric' && opts.model === undefined && opts.instructions === undefined) {
    io.err('rampart: a parametric replay needs --model <alias> and/or --instructions <text>\n');
    return EXIT.usage;
  }
  let expect: Expect | undefined;
  if (opts.expect !== undefined) {
    const parsed = Expect.safeParse(
      (() => {
        try {
          return JSON.parse(opts.expect) as unknown;
        } catch {
          return undefined;
        }
      })(),
    );
    if (!parsed.success) {
      io.err('rampart: --expect is a JSON object of dataset expectations (see docs/evals.md)\n');
      return EXIT.usage;
    }
    expect = parsed.data;
  }
  if (mode === 'stress') return stress(client, opts, io);
  const outcome = await replayOnce(client, opts, mode);
  io.out(
    `replay ${mode} of run ${outcome.runId} (replay run ${outcome.replayRunId}), ${outcome.durationMs} ms\n` +
      `recorded: ${outcome.recorded.status}, tools [${outcome.recorded.tools.join(', ')}], output ${text(outcome.recorded.output).slice(0, 200)}\n` +
      `replayed: ${outcome.replayed.status}${outcome.replayed.reason ? ` (${outcome.replayed.reason})` : ''}, tools [${outcome.replayed.tools.join(', ')}], output ${text(outcome.replayed.output).slice(0, 200)}\n`,
  );
  for (const v of outcome.violations) io.out(`not in the recording: ${v}\n`);
  if (mode === 'exact') {
    io.out(outcome.reproduced ? 'REPRODUCED\n' : `DIVERGED: ${outcome.divergence ?? ''}\n`);
    return outcome.reproduced ? EXIT.passed : EXIT.failed;
  }
  const c = EvalCase.parse({
    id: `replay:${outcome.runId}`,
    target: 'agent',
    input: questionOf(outcome.recorded.input),
    expect: expect ?? { toolsCalled: outcome.recorded.tools },
  });
  const obs = {
    text: text(outcome.replayed.output),
    json: outcome.replayed.output,
    toolsCalled: outcome.replayed.tools,
    approvals: outcome.replayed.approvals,
    costUsd: outcome.replayed.costUsd,
    latencyMs: outcome.durationMs,
  };
  const judge = opts.judgeModel ? new Judge(client, opts.judgeModel) : undefined;
  const checks = [...deterministicChecks(c, obs), ...(await judgedChecks(c, obs, judge))];
  if (outcome.replayed.status !== 'succeeded')
    checks.push({
      name: 'run',
      pass: false,
      score: 0,
      detail: `the replay ${outcome.replayed.status}: ${outcome.replayed.reason ?? ''}`,
    });
  const result = caseResult(c, obs, checks);
  for (const k of result.checks)
    io.out(
      `check ${k.name}: ${k.error ? 'ERROR' : k.pass ? 'pass' : 'FAIL'} ${k.score.toFixed(3)} ${k.error ?? k.detail ?? ''}\n`,
    );
  const ok = result.pass && outcome.violations.length === 0;
  io.out(`score ${result.score.toFixed(3)}: ${ok ? 'PASSED' : 'FAILED'}\n`);
  return ok ? EXIT.passed : EXIT.failed;
}

/** N replays, `concurrency` at a time; prints throughput and the replay latency distribution. */
async function stress(client: RampartClient, opts: EvalReplayOptions, io: Io): Promise<number> {
  const total = opts.episodes ?? 20;
  const concurrency = Math.min(opts.concurrency ?? 8, total);
  const mode = opts.model !== undefined || opts.instructions !== undefined ? 'parametric' : 'exact';
  const latencies: number[] = [];
  let steps = 0;
  let diverged = 0;
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        const t0 = performance.now();
        try {
          const o = await replayOnce(client, opts, mode);
          steps += o.replayed.steps;
          if (o.violations.length > 0 || (mode === 'exact' && !o.reproduced)) diverged += 1;
        } catch (err) {
          errors += 1;
          if (errors === 1) io.err(`rampart: ${(err as Error).message}\n`);
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  io.out(
    `stress: ${total} ${mode} replays of run ${opts.run}, concurrency ${concurrency}\n` +
      `${(total / seconds).toFixed(1)} episodes/s, ${(steps / seconds).toFixed(1)} model steps/s, ` +
      `latency p50 ${percentile(latencies, 50).toFixed(0)} ms p99 ${percentile(latencies, 99).toFixed(0)} ms\n` +
      `${total - diverged - errors} reproduced, ${diverged} diverged, ${errors} errors\n`,
  );
  return diverged + errors === 0 ? EXIT.passed : EXIT.failed;
}
