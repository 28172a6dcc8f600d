import { Ajv } from 'ajv';
import type { CheckResult, JsonAssertion } from '../schemas.js';
import { jsonPath, JsonPathInvalid } from './json-path.js';

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);
const pass = (name: string, ok: boolean, detail?: string): CheckResult => ({
  name,
  pass: ok,
  score: ok ? 1 : 0,
  ...(detail !== undefined ? { detail } : {}),
});
const errored = (name: string, error: string): CheckResult => ({
  name,
  pass: false,
  score: 0,
  error,
});

/** Every needle occurs in the text (case-insensitive); the score is the share found. */
export function contains(text: string, needles: string | string[]): CheckResult {
  const all = list(needles);
  const lower = text.toLowerCase();
  const missing = all.filter((n) => !lower.includes(n.toLowerCase()));
  return {
    name: 'contains',
    pass: missing.length === 0,
    score: (all.length - missing.length) / all.length,
    ...(missing.length > 0
      ? { detail: `missing: ${missing.map((m) => JSON.stringify(m)).join(', ')}` }
      : {}),
  };
}

/** No needle occurs in the text (case-insensitive). */
export function notContains(text: string, needles: string | string[]): CheckResult {
  const lower = text.toLowerCase();
  const found = list(needles).filter((n) => lower.includes(n.toLowerCase()));
  return pass(
    'notContains',
    found.length === 0,
    found.length > 0 ? `found: ${found.map((f) => JSON.stringify(f)).join(', ')}` : undefined,
  );
}

/** Every pattern matches the text. An invalid pattern is an evaluator error, never a pass. */
export function regex(text: string, patterns: string | string[]): CheckResult {
  const failed: string[] = [];
  for (const p of list(patterns)) {
    let re: RegExp;
    try {
      re = new RegExp(p, 'u');
    } catch (err) {
      return errored('regex', `invalid pattern ${JSON.stringify(p)}: ${(err as Error).message}`);
    }
    if (!re.test(text)) failed.push(p);
  }
  return pass(
    'regex',
    failed.length === 0,
    failed.length > 0 ? `no match: ${failed.join(', ')}` : undefined,
  );
}

/** Deep equality of JSON values (object keys in any order). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    return ka.every(
      (k) =>
        Object.hasOwn(b, k) &&
        deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    );
  }
  return false;
}

/** A string expectation equals the trimmed text; any other value equals the JSON output. */
export function equals(text: string, json: unknown, expected: unknown): CheckResult {
  const ok =
    typeof expected === 'string' ? text.trim() === expected.trim() : deepEqual(json, expected);
  return pass('equals', ok, ok ? undefined : `expected ${JSON.stringify(expected).slice(0, 200)}`);
}

const ajv = new Ajv({ allErrors: true, strict: false });

/** The JSON output validates against the schema. A schema that does not compile is an error. */
export function jsonSchema(json: unknown, schema: Record<string, unknown>): CheckResult {
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    return errored('jsonSchema', `invalid JSON Schema: ${(err as Error).message}`);
  }
  const ok = validate(json);
  return pass('jsonSchema', ok, ok ? undefined : ajv.errorsText(validate.errors));
}

function compare(actual: unknown, a: JsonAssertion): boolean {
  const v = a.value;
  switch (a.op) {
    case 'exists':
      return v === false ? actual === undefined : actual !== undefined;
    case 'eq':
      return deepEqual(actual, v);
    case 'ne':
      return !deepEqual(actual, v);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const x = Number(actual);
      const y = Number(v);
      if (actual === undefined || actual === null || Number.isNaN(x) || Number.isNaN(y))
        return false;
      return a.op === 'gt' ? x > y : a.op === 'gte' ? x >= y : a.op === 'lt' ? x < y : x <= y;
    }
    case 'contains':
      if (Array.isArray(actual)) return actual.some((item) => deepEqual(item, v));
      return typeof actual === 'string' && actual.toLowerCase().includes(String(v).toLowerCase());
    case 'matches':
      return typeof actual === 'string' && new RegExp(String(v), 'u').test(actual);
  }
}

/** Each assertion on a path of the JSON output holds; the score is the share that hold. */
export function jsonAssertions(json: unknown, assertions: readonly JsonAssertion[]): CheckResult {
  const failed: string[] = [];
  for (const a of assertions) {
    let ok: boolean;
    try {
      ok = compare(jsonPath(json, a.path), a);
    } catch (err) {
      if (err instanceof JsonPathInvalid || err instanceof SyntaxError)
        return errored('json', `${a.path}: ${err.message}`);
      throw err;
    }
    if (!ok) failed.push(`${a.path} ${a.op} ${JSON.stringify(a.value)}`);
  }
  return {
    name: 'json',
    pass: failed.length === 0,
    score: (assertions.length - failed.length) / Math.max(1, assertions.length),
    ...(failed.length > 0 ? { detail: `failed: ${failed.join('; ')}` } : {}),
  };
}
