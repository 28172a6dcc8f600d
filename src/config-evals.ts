import { int, type SettingDef } from './config-schema.js';

/** Settings of evals and quality monitoring. */
export const evalSettings = {
  EVAL_DRIFT_WINDOW: {
    schema: int(20, 1_000_000).default(500),
    description:
      'Evals: answers per window of the retrieval top-score drift gauge (rampart_retrieval_top_score_psi): the first window after start is the baseline, the latest window is compared with it (per process).',
    defaultText: '500',
  },
  EVAL_RUN_MAX_CASES: {
    schema: int(1, 100_000).default(200),
    description:
      'Evals: most cases one POST /v1/evals/runs may run (it answers when the run is scored); larger golden sets run with `rampart eval run`.',
    defaultText: '200',
  },
} satisfies Record<string, SettingDef>;
