import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Inject } from './client.js';
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
export { parseDatasetFile, DatasetInvalid, type Dataset } from './dataset.js';
export { evaluateGate, compareResults, parseThresholds, type GateVerdict } from './gate.js';
export { formatDiff, formatRun, junitXml } from './report.js';
export { runDataset, type RunOptions } from './runner.js';
export { RunResult } from './schemas.js';

export interface Evals {
  routes: AnyRoute[];
  /** Called by the knowledge hub for every answer of /v1/ask (feedback ownership, drift metrics). */
  recordAnswer(principal: Principal, facts: AnswerFacts): Promise<void>;
}

/** Builds evals and quality monitoring; `inject` is the app's own in-process entry (server-side runs). */
export function createEvals(deps: {
  db: Database;
  config: Pick<Config, 'EVAL_DRIFT_WINDOW' | 'EVAL_RUN_MAX_CASES'>;
  registry: Registry;
  inject: Inject;
}): Evals {
  const feedback = new FeedbackService(
    deps.db,
    qualityMetrics(deps.registry, deps.config.EVAL_DRIFT_WINDOW),
  );
  const evals = new EvalService(deps.db, { maxCases: deps.config.EVAL_RUN_MAX_CASES });
  return {
    routes: evalRoutes(evals, feedback, deps.inject),
    recordAnswer: (principal, facts) => feedback.recordAnswer(principal, facts),
  };
}
