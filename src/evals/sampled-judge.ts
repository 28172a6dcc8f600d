import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import type { ModelCalls } from '../gateway/index.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { AppError } from '../platform/http/errors.js';
import { servicePrincipal } from '../platform/http/principal.js';
import { enqueueJob, type Job, type JobHandler } from '../platform/queue/queue.js';
import { addJudgeSpend, judgeSpendToday } from './judge-spend-store.js';
import { JudgeFailed, judgeInputs, judgePrompt, parseVerdict, type JudgeKind } from './judges.js';

/** The background job that judges one sampled answer. */
export const JUDGE_JOB = 'evals.judge';

/** How production answers are sampled for judging (settings EVAL_JUDGE_*). */
export interface JudgeSampling {
  /** 0..1; 0 judges nothing. */
  share: number;
  /** The tenant alias the judge calls; unset, nothing is sampled. */
  model: string | undefined;
  /** Most a tenant's judging may cost per UTC day. */
  dailyCapUsd: number;
  /** Uniform in [0, 1): Math.random, or a seeded generator in tests. */
  random?: () => number;
}

const KINDS = ['faithfulness', 'relevance'] as const satisfies readonly JudgeKind[];

/**
 * What a sampled answer's job carries: the material the judges read (bounded), and which judge
 * runs. One job per judge, so a retry after a transient failure of one judge does not call (and
 * meter) the other again; a job without `judge` (queued before there was one per judge) runs both.
 */
export const JudgeJobPayload = z.object({
  requestId: z.string(),
  question: z.string(),
  answer: z.string(),
  context: z.array(z.string()),
  judge: z.enum(KINDS).optional(),
});
export type JudgeJobPayload = z.infer<typeof JudgeJobPayload>;

/** The sampled judge's metrics (idempotent per registry). */
export interface JudgeMetrics {
  score: Histogram<'judge'>;
  verdicts: Counter<'judge' | 'outcome'>;
}

export function judgeMetrics(registry: Registry): JudgeMetrics {
  const score =
    (registry.getSingleMetric('rampart_eval_judge_score') as Histogram<'judge'> | undefined) ??
    new Histogram({
      name: 'rampart_eval_judge_score',
      help: 'Scores (0..1) the sampled background judge gave production answers, by judge (faithfulness, relevance); _sum/_count is the mean.',
      labelNames: ['judge'],
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
      registers: [registry],
    });
  const verdicts =
    (registry.getSingleMetric('rampart_eval_judge_verdicts_total') as
      Counter<'judge' | 'outcome'> | undefined) ??
    new Counter({
      name: 'rampart_eval_judge_verdicts_total',
      help: 'Sampled background judgements by judge and outcome: pass, fail, error (a malformed verdict or a refused call; never a pass), capped (the daily cost cap was reached).',
      labelNames: ['judge', 'outcome'],
      registers: [registry],
    });
  return { score, verdicts };
}

/**
 * Decides whether an answer is judged and, if so, enqueues its job in the caller's
 * transaction (with the answer's record). Not sampled once the tenant's cap is reached today.
 */
export async function sampleAnswer(
  tx: TenantTx,
  sampling: JudgeSampling,
  payload: JudgeJobPayload,
): Promise<boolean> {
  if (!sampling.model || sampling.share <= 0) return false;
  if ((sampling.random ?? Math.random)() >= sampling.share) return false;
  if ((await judgeSpendToday(tx)) >= sampling.dailyCapUsd) return false;
  const material = {
    requestId: payload.requestId,
    question: payload.question.slice(0, 4000),
    answer: payload.answer.slice(0, 8000),
    context: payload.context.slice(0, 10).map((c) => c.slice(0, 2000)),
  };
  for (const judge of KINDS)
    await enqueueJob(tx, { kind: JUDGE_JOB, payload: { ...material, judge }, maxAttempts: 3 });
  return true;
}

/**
 * The job handlers of the sampled judge: each judge (faithfulness, relevance) is a chat call
 * through the gateway under the tenant's alias (routed, limited, metered to the tenant), its
 * cost added to the tenant's day; past the cap no more calls are made. A malformed verdict is
 * counted as an error, never as a pass or a score.
 */
export function judgeJobs(deps: {
  db: Database;
  calls: ModelCalls;
  sampling: JudgeSampling;
  registry: Registry;
  logger?: Logger | undefined;
  timeoutMs?: number;
}): Record<string, JobHandler> {
  const metrics = judgeMetrics(deps.registry);
  const run = async (job: Job): Promise<void> => {
    const parsed = JudgeJobPayload.safeParse(job.payload);
    const model = deps.sampling.model;
    if (!parsed.success || !model) return;
    const p = parsed.data;
    const principal = servicePrincipal(job.tenantId);
    for (const kind of p.judge ? [p.judge] : KINDS) {
      const spent = await deps.db.withTenant(principal, (tx) => judgeSpendToday(tx));
      if (spent >= deps.sampling.dailyCapUsd) {
        metrics.verdicts.inc({ judge: kind, outcome: 'capped' });
        continue;
      }
      const user =
        kind === 'faithfulness'
          ? judgeInputs.faithfulness(p.context, p.answer)
          : judgeInputs.relevance(p.question, p.answer);
      let content: string | null;
      try {
        const out = await deps.calls.chat(
          principal,
          {
            model: { alias: model },
            temperature: 0,
            messages: [
              { role: 'system', content: judgePrompt(kind) },
              { role: 'user', content: user },
            ],
          },
          { requestId: `judge:${p.requestId}:${kind}`, timeoutMs: deps.timeoutMs ?? 60_000 },
        );
        await deps.db.withTenant(principal, (tx) => addJudgeSpend(tx, out.costUsd));
        content = out.content;
      } catch (err) {
        // A refusal (unknown alias, not allowed, tenant budget) will not heal: an error, no retry.
        if (err instanceof AppError && err.status < 500 && err.status !== 429) {
          metrics.verdicts.inc({ judge: kind, outcome: 'error' });
          deps.logger?.warn({ err: err.message, kind }, 'sampled judge call refused');
          continue;
        }
        throw err;
      }
      try {
        const verdict = parseVerdict(content ?? '');
        metrics.score.observe({ judge: kind }, verdict.score);
        metrics.verdicts.inc({ judge: kind, outcome: verdict.pass ? 'pass' : 'fail' });
      } catch (err) {
        if (!(err instanceof JudgeFailed)) throw err;
        metrics.verdicts.inc({ judge: kind, outcome: 'error' });
        deps.logger?.warn({ err: err.message, kind }, 'sampled judge gave a malformed verdict');
      }
    }
  };
  return { [JUDGE_JOB]: { run } };
}
