import { describe, expect, it } from 'vitest';
import { jsonPath, parseJsonPath } from './json-path.js';
import {
  contains,
  deepEqual,
  equals,
  jsonAssertions,
  jsonSchema,
  notContains,
  regex,
} from './text.js';

describe('text scorers', () => {
  it('contains: passes when every needle occurs (case-insensitive), scores the share found', () => {
    expect(contains('Refunds take 14 days.', ['refunds', '14 DAYS'])).toMatchObject({
      pass: true,
      score: 1,
    });
    const miss = contains('Refunds take 14 days.', ['refunds', 'store credit']);
    expect(miss).toMatchObject({ pass: false, score: 0.5 });
    expect(miss.detail).toContain('store credit');
  });

  it('notContains: fails when a forbidden string occurs', () => {
    expect(notContains('All good.', 'error')).toMatchObject({ pass: true, score: 1 });
    expect(notContains('An Error occurred', ['error'])).toMatchObject({ pass: false, score: 0 });
  });

  it('regex: every pattern must match; an invalid pattern is an error, not a fail or pass', () => {
    expect(regex('Order #1234 shipped', ['#\\d{4}', 'shipped$'])).toMatchObject({ pass: true });
    expect(regex('Order shipped', '#\\d{4}')).toMatchObject({ pass: false, score: 0 });
    const bad = regex('x', '(unclosed');
    expect(bad.pass).toBe(false);
    expect(bad.error).toMatch(/invalid pattern/);
  });

  it('equals: a string compares with the trimmed text, anything else with the JSON', () => {
    expect(equals('  42 ', 42, '42')).toMatchObject({ pass: true });
    expect(equals('x', { a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toMatchObject({ pass: true });
    expect(equals('x', { a: 1 }, { a: 2 })).toMatchObject({ pass: false });
    expect(deepEqual([1, { x: null }], [1, { x: null }])).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
  });

  it('jsonSchema: validates; a schema that does not compile is an error', () => {
    const schema = {
      type: 'object',
      required: ['total'],
      properties: { total: { type: 'number' } },
    };
    expect(jsonSchema({ total: 3 }, schema)).toMatchObject({ pass: true });
    const fail = jsonSchema({ total: 'three' }, schema);
    expect(fail.pass).toBe(false);
    expect(fail.detail).toMatch(/number/);
    expect(jsonSchema({}, { type: 'no-such-type' }).error).toMatch(/invalid JSON Schema/);
  });

  it('json path assertions: each op, with the share that hold as the score', () => {
    const doc = {
      rows: [
        [1, 'Ada'],
        [2, 'Bob'],
      ],
      meta: { n: 2, tags: ['a', 'b'], 'odd key': 'v' },
    };
    const ok = jsonAssertions(doc, [
      { path: '$.rows[1][1]', op: 'eq', value: 'Bob' },
      { path: '$.rows[-1][0]', op: 'gte', value: 2 },
      { path: '$.meta.n', op: 'lt', value: 3 },
      { path: '$.meta.tags', op: 'contains', value: 'b' },
      { path: "$.meta['odd key']", op: 'matches', value: '^v$' },
      { path: '$.meta.missing', op: 'exists', value: false },
      { path: '$.meta.n', op: 'ne', value: 3 },
    ]);
    expect(ok).toMatchObject({ pass: true, score: 1 });
    const half = jsonAssertions(doc, [
      { path: '$.meta.n', op: 'gt', value: 5 },
      { path: '$.meta.n', op: 'exists' },
    ]);
    expect(half).toMatchObject({ pass: false, score: 0.5 });
    expect(half.detail).toContain('$.meta.n gt 5');
    // A comparison with a missing value fails; an unreadable path is an error.
    expect(jsonAssertions(doc, [{ path: '$.nope', op: 'lte', value: 1 }]).pass).toBe(false);
    expect(jsonAssertions(doc, [{ path: 'rows', op: 'exists' }]).error).toMatch(/starts with \$/);
  });

  it('parses and reads JSON paths', () => {
    expect(parseJsonPath(`$.a[0]["b c"]`)).toEqual(['a', 0, 'b c']);
    expect(jsonPath({ a: [{ 'b c': 7 }] }, `$.a[0]["b c"]`)).toBe(7);
    expect(jsonPath({ a: 1 }, '$.a.b')).toBeUndefined();
    expect(() => parseJsonPath('$.a..b')).toThrow(/cannot read/);
  });
});
