import { describe, expect, it } from 'vitest';
import { InvalidInput } from './errors.js';
import {
  findUnstorable,
  rejectUnstorableInput,
  safeString,
  toStorableText,
  unstorableReason,
} from './safe-string.js';

describe('safe strings', () => {
  it('names NUL and lone surrogates, and passes proper pairs and ordinary text', () => {
    expect(unstorableReason('a\u0000b')).toBe('must not contain NUL characters (\\u0000)');
    expect(unstorableReason('a\ud800')).toMatch(/unpaired UTF-16 surrogates/);
    expect(unstorableReason('\udc00x')).toMatch(/unpaired UTF-16 surrogates/);
    expect(unstorableReason('emoji 🙂 ok, tab\tand\r\nbreaks')).toBeUndefined();
  });

  it('safeString() refuses them and keeps chaining like z.string()', () => {
    const title = safeString().trim().min(1).max(5);
    expect(title.parse('  abc ')).toBe('abc');
    expect(title.safeParse('a\u0000').error?.issues[0]?.message).toBe(
      'must not contain NUL characters (\\u0000)',
    );
    expect(title.safeParse('abcdefg').success).toBe(false);
  });

  it('finds the first unstorable string or key anywhere in parsed input, with its path', () => {
    expect(findUnstorable({ a: [1, { b: 'x\u0000' }] }, 'body')).toEqual({
      field: 'body.a.1.b',
      message: 'must not contain NUL characters (\\u0000)',
    });
    expect(findUnstorable({ headers: { 'k\ud800': 'v' } }, 'body')?.field).toBe('body.headers');
    expect(findUnstorable({ file: Buffer.from([0, 0]), title: 'ok' }, 'body')).toBeUndefined();
    // Deep nesting is walked without recursion.
    let deep: unknown = 'end\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorable(deep, 'body')?.message).toMatch(/NUL/);
  });

  it('rejectUnstorableInput throws InvalidInput for params, query or body', () => {
    expect(() =>
      rejectUnstorableInput({ params: { id: 'a\u0000' }, query: {}, body: undefined }),
    ).toThrow(InvalidInput);
    expect(() =>
      rejectUnstorableInput({ params: {}, query: { q: 'fine' }, body: { t: 'fine' } }),
    ).not.toThrow();
  });

  it('toStorableText drops NULs and replaces lone surrogates', () => {
    expect(toStorableText('a\u0000b\ud800c🙂')).toBe('ab\uFFFDc🙂');
    const clean = 'nothing to do';
    expect(toStorableText(clean)).toBe(clean);
  });
});
