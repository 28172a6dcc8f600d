import { describe, expect, it } from 'vitest';
import { cacheKey, canonicalJson } from './key.js';

const T1 = '00000000-0000-4000-8000-000000000001';
const T2 = '00000000-0000-4000-8000-000000000002';

describe('response cache keys', () => {
  it('serialises objects with sorted keys at every depth, arrays in order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: null }], c: 'x' }, u: undefined })).toBe(
      '{"a":{"c":"x","d":[2,{"y":null,"z":1}]},"b":1}',
    );
    expect(canonicalJson([3, 1])).not.toBe(canonicalJson([1, 3]));
  });

  it('ignores fields that do not change the answer, and nothing else', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
    const k = cacheKey(T1, 'chat', 'm', base);
    expect(
      cacheKey(T1, 'chat', 'm', { ...base, user: 'u1', metadata: { a: 1 }, stream: false }),
    ).toBe(k);
    expect(cacheKey(T1, 'chat', 'm', { temperature: 0, messages: base.messages, model: 'm' })).toBe(
      k,
    );
    expect(cacheKey(T1, 'chat', 'm', { ...base, temperature: 1 })).not.toBe(k);
    expect(cacheKey(T1, 'chat', 'm', { ...base, unknown_field: true })).not.toBe(k);
  });

  it('separates tenants, aliases and endpoints', () => {
    const body = { model: 'm', input: 'x' };
    const k = cacheKey(T1, 'embeddings', 'm', body);
    expect(k.startsWith(`rampart:gwcache:v1:${T1}:`)).toBe(true);
    expect(cacheKey(T2, 'embeddings', 'm', body)).not.toBe(k);
    expect(cacheKey(T1, 'chat', 'm', body)).not.toBe(k);
    expect(cacheKey(T1, 'embeddings', 'n', body)).not.toBe(k);
  });
});
