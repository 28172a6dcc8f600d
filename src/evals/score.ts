import { z } from 'zod';
import { judgeInputs, type Judge } from './judges.js';
import type { CaseResult, CheckResult, EvalCase } from './schemas.js';
import { agentChecks, costCeiling, latencyCeiling } from './scorers/ceilings.js';
import { citationCheck, retrievalChecks } from './scorers/retrieval.js';
import { goldIsOrdered, sqlExecutionMatch } from './scorers/sql.js';
import {
  contains,
  equals,
  jsonAssertions,
  jsonSchema,
  notContains,
  regex,
} from './scorers/text.js';
import type { Observation } from './targets.js';

/** The question a case asks, for the judges: its input text, or the input's question/query/prompt. */
export function caseQuestion(c: EvalCase): string {
  if (typeof c.input === 'string') return c.input;
  const r = z
    .object({
      question: z.string().optional(),
      query: z.string().optional(),
      prompt: z.string().optional(),
      input: z.string().optional(),
    })
    .safeParse(c.input);
  const q = r.success
    ? (r.data.question ?? r.data.query ?? r.data.prompt ?? r.data.input)
    : undefined;
  return q ?? JSON.stringify(c.input);
}

function missing(name: string, what: string): CheckResult {
  return { name, pass: false, score: 0, error: `${what} is not available for this target` };
}

/** The deterministic checks a case's expectations ask for, on what the target produced. */
export function deterministicChecks(c: EvalCase, obs: Observation): CheckResult[] {
  const e = c.expect;
  const out: CheckResult[] = [];
  if (e.contains !== undefined) out.push(contains(obs.text, e.contains));
  if (e.notContains !== undefined) out.push(notContains(obs.text, e.notContains));
  if (e.regex !== undefined) out.push(regex(obs.text, e.regex));
  if (e.equals !== undefined) out.push(equals(obs.text, obs.json, e.equals));
  if (e.jsonSchema !== undefined) out.push(jsonSchema(obs.json, e.jsonSchema));
  if (e.json !== undefined) out.push(jsonAssertions(obs.json, e.json));
  if (e.sources !== undefined) {
    const k = e.k ?? 5;
    if (obs.retrieved)
      out.push(
        ...retrievalChecks(obs.retrieved, e.sources, {
          k,
          minRecall: e.minRecall ?? 1 / e.sources.length,
        }),
      );
    else out.push(missing(`recall@${k}`, 'a ranking'));
    if (c.target === 'ask')
      out.push(
        obs.cited
          ? citationCheck(obs.cited, e.sources, e.minCitationPrecision ?? 0.5)
          : missing('citationPrecision', 'citations'),
      );
  }
  if (e.sql !== undefined)
    out.push(
      obs.rows && obs.goldRows
        ? sqlExecutionMatch(obs.rows, obs.goldRows, goldIsOrdered(e.sql))
        : missing('sqlExecutionMatch', 'rows'),
    );
  if (
    e.toolsCalled !== undefined ||
    e.toolsNotCalled !== undefined ||
    e.approvalsRequested !== undefined
  ) {
    if (obs.toolsCalled) out.push(...agentChecks(obs.toolsCalled, e, obs.approvals ?? 0));
    else out.push(missing('agent', 'a run'));
  }
  if (e.maxCostUsd !== undefined) out.push(costCeiling(obs.costUsd, e.maxCostUsd));
  if (e.maxLatencyMs !== undefined) out.push(latencyCeiling(obs.latencyMs, e.maxLatencyMs));
  return out;
}

/** The model-graded checks a case asks for; without a judge model each is an error, never a pass. */
export async function judgedChecks(
  c: EvalCase,
  obs: Observation,
  judge: Judge | undefined,
): Promise<CheckResult[]> {
  const e = c.expect;
  const wanted: [name: string, run: (j: Judge) => Promise<CheckResult>][] = [];
  const question = caseQuestion(c);
  if (e.rubric !== undefined)
    wanted.push([
      'judge:rubric',
      (j) => j.judge('rubric', judgeInputs.rubric(e.rubric ?? '', question, obs.text)),
    ]);
  if (e.faithfulness !== undefined)
    wanted.push([
      'judge:faithfulness',
      (j) =>
        j.judge(
          'faithfulness',
          judgeInputs.faithfulness(obs.context ?? [], obs.text),
          e.faithfulness,
        ),
    ]);
  if (e.relevance !== undefined)
    wanted.push([
      'judge:relevance',
      (j) => j.judge('relevance', judgeInputs.relevance(question, obs.text), e.relevance),
    ]);
  const out: CheckResult[] = [];
  for (const [name, run] of wanted)
    out.push(
      judge
        ? await run(judge)
        : { name, pass: false, score: 0, error: 'no judge model: pass --judge-model <alias>' },
    );
  return out;
}

/** Folds checks into a case result: passes when every check passes; errors when any errored. */
export function caseResult(c: EvalCase, obs: Observation, checks: CheckResult[]): CaseResult {
  const errors = checks.filter((k) => k.error !== undefined);
  const score = checks.length === 0 ? 1 : checks.reduce((s, k) => s + k.score, 0) / checks.length;
  return {
    id: c.id,
    target: c.target,
    pass: errors.length === 0 && checks.every((k) => k.pass),
    score,
    checks,
    ...(errors.length > 0
      ? { error: errors.map((k) => `${k.name}: ${k.error ?? ''}`).join('; ') }
      : {}),
    costUsd: obs.costUsd,
    latencyMs: obs.latencyMs,
    output: obs.text.slice(0, 500),
  };
}
