import { describe, expect, it } from 'vitest';
import { LocalHashEmbedder, parseVectorLiteral, toVectorLiteral } from './embed.js';

const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);

describe('LocalHashEmbedder', () => {
  const e = new LocalHashEmbedder();
  it('is deterministic, 1024-dimensional and L2-normalised', async () => {
    const [a, b] = await e.embed([
      'Refunds are issued within 30 days.',
      'Refunds are issued within 30 days.',
    ]);
    expect(a).toHaveLength(1024);
    expect(a).toEqual(b);
    expect(Math.sqrt(dot(a as number[], a as number[]))).toBeCloseTo(1, 10);
    expect(e.model).toBe('rampart-local-hash-v2-1024');
  });
  it('places lexically related texts closer than unrelated ones', () => {
    const q = e.embedOne('embedding cache for documents');
    const near = e.embedOne('documents use an embeddings cache');
    const far = e.embedOne('the weather in Lisbon is sunny');
    expect(dot(q, near)).toBeGreaterThan(dot(q, far) + 0.2);
  });
  it('returns a zero vector for text without content words', () => {
    expect(e.embedOne(' the ... and !!! ').every((x) => x === 0)).toBe(true);
  });
  it('round-trips through the pgvector text form', () => {
    const v = e.embedOne('round trip');
    const back = parseVectorLiteral(toVectorLiteral(v));
    back.forEach((x, i) => expect(x).toBeCloseTo(v[i] as number, 6));
  });
});
