import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Logger } from 'pino';
import type { ModelCalls } from '../gateway/index.js';
import type { JobHandler } from '../platform/queue/queue.js';
import type { Inject } from './client.js';
import { judgeJobs, type JudgeSampling } from './sampled-judge.js';
import { FeedbackService, type AnswerFacts } from './feedback-service.js';
import { qualityMetrics } from './metrics.js';
import { evalRoutes } from './routes.js';
import { EvalService } from './service.js';

export {
  cachingClient,
  httpClient,
  injectClient,
  type Inject,
  type RampartClient,
} from './client.js';
export { evalCompare, evalRun, EXIT, type EvalRunOptions, type Io } from './command.js';
export { evalReplay, type EvalReplayOptions } from './replay.js';
export { judgeJobs, JUDGE_JOB, type JudgeSampling } from './sampled-judge.js';
export { parseDatasetFile, DatasetInvalid, type Dataset } from './dataset.js';
export { evaluateGate, compareResults, parseThresholds, type GateVerdict } from './gate.js';
export { formatDiff, formatRun, junitXml } from './report.js';
export { runDataset, type RunOptions } from './runner.js';
export { RunResult } from './schemas.js';

export interface Evals {
  routes: AnyRoute[];
  /** Called by the knowledge hub for every answer of /v1/ask (feedback ownership, drift metrics). */
  recordAnswer(principal: Principal, facts: AnswerFacts): Promise<void>;
  /** The sampled background judge's job (the worker runs it; `serve` with the embedded database). */
  jobs: Record<string, JobHandler>;
}

/** The sampled judge's settings. */
export function judgeSampling(
  config: Pick<
    Config,
    'EVAL_JUDGE_SAMPLE_SHARE' | 'EVAL_JUDGE_MODEL' | 'EVAL_JUDGE_DAILY_COST_CAP_USD'
  >,
  random?: () => number,
): JudgeSampling {
  return {
    share: config.EVAL_JUDGE_SAMPLE_SHARE,
    model: config.EVAL_JUDGE_MODEL,
    dailyCapUsd: config.EVAL_JUDGE_DAILY_COST_CAP_USD,
    ...(random ? { random } : {}),
  };
}

/** Builds evals and quality monitoring; `inject` is the app's own in-process entry (server-side runs). */
export function createEvals(deps: {
  db: Database;
  config: Pick<
    Config,
    | 'EVAL_DRIFT_WINDOW'
    | 'EVAL_RUN_MAX_CASES'
    | 'EVAL_JUDGE_SAMPLE_SHARE'
    | 'EVAL_JUDGE_MODEL'
    | 'EVAL_JUDGE_DAILY_COST_CAP_USD'
  >;
  registry: Registry;
  inject: Inject;
  /** The gateway's in-process entry: the sampled judge's model calls. */
  calls: ModelCalls;
  logger?: Logger | undefined;
  /** Tests: a seeded generator deciding which answers are sampled. */
  random?: () => number;
}): Evals {
  const sampling = judgeSampling(deps.config, deps.random);
  const feedback = new FeedbackService(
    deps.db,
    qualityMetrics(deps.registry, deps.config.EVAL_DRIFT_WINDOW),
    sampling,
  );
  const evals = new EvalService(deps.db, { maxCases: deps.config.EVAL_RUN_MAX_CASES });
  return {
    routes: evalRoutes(evals, feedback, deps.inject),
    recordAnswer: (principal, facts) => feedback.recordAnswer(principal, facts),
    jobs: judgeJobs({
      db: deps.db,
      calls: deps.calls,
      sampling,
      registry: deps.registry,
      logger: deps.logger,
    }),
  };
}
