import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { TopScoreDrift } from './drift.js';

/** The online quality metrics: answers with and without support, feedback, retrieval drift. */
export interface QualityMetrics {
  answers: Counter<'supported'>;
  feedback: Histogram;
  drift: TopScoreDrift;
}

function existing<T>(registry: Registry, name: string): T | undefined {
  // prom-client types the lookup loosely; each name below is registered only by this module.
  return registry.getSingleMetric(name) as T | undefined;
}

/** The quality metrics in `registry` (idempotent per registry). */
export function qualityMetrics(registry: Registry, driftWindow: number): QualityMetrics {
  const answers =
    existing<Counter<'supported'>>(registry, 'rampart_ask_answers_total') ??
    new Counter({
      name: 'rampart_ask_answers_total',
      help: 'Answers of /v1/ask by whether they had support (supported="false": no citation, "not found").',
      labelNames: ['supported'],
      registers: [registry],
    });
  const feedback =
    existing<Histogram>(registry, 'rampart_feedback_score') ??
    new Histogram({
      name: 'rampart_feedback_score',
      help: 'Feedback ratings on answers as a 0..1 score (up 1, down 0, n of 5 as (n-1)/4); _sum/_count is the mean.',
      buckets: [0, 0.25, 0.5, 0.75, 1],
      registers: [registry],
    });
  const drift = new TopScoreDrift(driftWindow);
  if (!existing<Gauge>(registry, 'rampart_retrieval_top_score_psi'))
    new Gauge({
      name: 'rampart_retrieval_top_score_psi',
      help: "Population stability index of answers' top retrieval score, recent window against the first window after start (this process).",
      registers: [registry],
      collect() {
        this.set(drift.psi());
      },
    });
  return { answers, feedback, drift };
}
