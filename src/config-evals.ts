import { z } from 'zod';
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
  EVAL_JUDGE_SAMPLE_SHARE: {
    schema: z.coerce.number().min(0).max(1).default(0),
    description:
      'Evals: share (0..1) of /v1/ask answers judged in the background (faithfulness and relevance, through the gateway with EVAL_JUDGE_MODEL); 0 judges none.',
    defaultText: '0',
  },
  EVAL_JUDGE_MODEL: {
    schema: z.string().min(1).max(200).optional(),
    description:
      "Evals: the tenant model alias the sampled background judge calls (each tenant's own route of that name, metered to the tenant); unset, nothing is sampled.",
    defaultText: '(unset)',
  },
  EVAL_JUDGE_DAILY_COST_CAP_USD: {
    schema: z.coerce.number().min(0).max(1_000_000).default(1),
    description:
      "Evals: most a tenant's sampled background judging may cost per UTC day; once reached, no more of its answers are judged that day.",
    defaultText: '1',
  },
} satisfies Record<string, SettingDef>;
