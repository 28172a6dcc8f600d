import { z } from 'zod';

/** What an eval case runs against: the API it calls (see targets.ts). */
export const TARGETS = ['ask', 'search', 'agent', 'sql', 'chat'] as const;
export type TargetKind = (typeof TARGETS)[number];

export const JSON_OPS = [
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'contains',
  'exists',
  'matches',
] as const;

/** An assertion on a value inside the JSON output, e.g. `{ path: "$.rows[0][1]", op: "gte", value: 3 }`. */
export const JsonAssertion = z
  .object({
    path: z.string().min(1).max(500),
    op: z.enum(JSON_OPS),
    value: z.unknown().optional(),
  })
  .strict();
export type JsonAssertion = z.infer<typeof JsonAssertion>;

const text = z.string().min(1).max(10_000);
const oneOrMany = z.union([text, z.array(text).min(1).max(100)]);

/** What a good output must contain, cite or return. Every key is optional; each present key is a check. */
export const Expect = z
  .object({
    contains: oneOrMany.optional(),
    notContains: oneOrMany.optional(),
    regex: oneOrMany.optional(),
    equals: z.unknown().optional(),
    jsonSchema: z.record(z.string(), z.unknown()).optional(),
    json: z.array(JsonAssertion).max(100).optional(),
    /** Expected source documents (ids or titles) for recall@k, MRR, nDCG@10 and citation precision. */
    sources: z.array(text).min(1).max(100).optional(),
    /** Retrieval metrics' pass marks (defaults: recall@k ≥ 1 of the sources found, see score.ts). */
    minRecall: z.number().min(0).max(1).optional(),
    minCitationPrecision: z.number().min(0).max(1).optional(),
    k: z.number().int().min(1).max(100).optional(),
    /** Gold SQL: the answer's rows must equal its rows (order-insensitive unless it has ORDER BY). */
    sql: text.optional(),
    rubric: text.optional(),
    faithfulness: z.number().min(0).max(1).optional(),
    relevance: z.number().min(0).max(1).optional(),
    /** Agent checks: tools that must be (or must not be) called; approvals requested. */
    toolsCalled: z.array(text).max(50).optional(),
    toolsNotCalled: z.array(text).max(50).optional(),
    approvalsRequested: z.number().int().min(0).optional(),
    maxCostUsd: z.number().min(0).optional(),
    maxLatencyMs: z.number().min(0).optional(),
  })
  .strict();
export type Expect = z.infer<typeof Expect>;

export const EvalCase = z
  .object({
    id: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9._:/-]+$/u, 'case ids are letters, digits and . _ : / -'),
    target: z.enum(TARGETS),
    input: z.unknown(),
    expect: Expect.default({}),
    tags: z.array(z.string().min(1).max(64)).max(20).optional(),
  })
  .strict();
export type EvalCase = z.infer<typeof EvalCase>;

export const DatasetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/u, 'lowercase letters, digits and . _ -, at most 100');

export const DatasetBody = z
  .object({ name: DatasetName, cases: z.array(EvalCase).min(1).max(2000) })
  .strict();
export type DatasetBody = z.infer<typeof DatasetBody>;

export const DatasetSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.number().int(),
  caseCount: z.number().int(),
  contentHash: z.string(),
  createdAt: z.string(),
  cases: z.array(EvalCase).optional(),
});
export type DatasetSchema = z.infer<typeof DatasetSchema>;

/** One check's outcome: a named assertion with a 0..1 score. `error` means it could not be scored. */
export const CheckResult = z.object({
  name: z.string(),
  pass: z.boolean(),
  score: z.number(),
  detail: z.string().optional(),
  error: z.string().optional(),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const CaseResult = z.object({
  id: z.string(),
  target: z.enum(TARGETS),
  pass: z.boolean(),
  /** Mean of the checks' scores (1 when the case has no checks and ran without error). */
  score: z.number(),
  checks: z.array(CheckResult),
  /** Set when the case could not run or a check errored: the gate fails on it. */
  error: z.string().optional(),
  costUsd: z.number(),
  latencyMs: z.number(),
  /** What the target returned (answer text, first lines), for reading a failure. */
  output: z.string().optional(),
});
export type CaseResult = z.infer<typeof CaseResult>;

export const RunTotals = z.object({
  cases: z.number().int(),
  passed: z.number().int(),
  failed: z.number().int(),
  errored: z.number().int(),
  score: z.number(),
  passRate: z.number(),
  costUsd: z.number(),
  latencyMsP50: z.number(),
  latencyMsP95: z.number(),
});
export type RunTotals = z.infer<typeof RunTotals>;

export const RunResult = z.object({
  dataset: z.object({ name: z.string(), version: z.number().int().optional(), hash: z.string() }),
  startedAt: z.string(),
  repeats: z.number().int(),
  cases: z.array(CaseResult),
  totals: RunTotals,
});
export type RunResult = z.infer<typeof RunResult>;
