import { describe, expect, it } from 'vitest';
import { convexFusion } from '../src/knowledge/search.js';

const kw = [
  { id: 'a', score: 10 },
  { id: 'b', score: 9.9 },
  { id: 'c', score: 5 },
  { id: 'd', score: 1 },
];
const vec = [
  { id: 'b', score: 0.9 },
  { id: 'e', score: 0.8 },
  { id: 'a', score: 0.3 },
];
const ids = (xs: { id: string }[]): string[] => xs.map((x) => x.id);

describe('convexFusion', () => {
  it('with weight 0 is exactly the keyword ranking', () => {
    expect(ids(convexFusion(kw, vec, 0)).slice(0, 4)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('with a small weight reorders only near-ties of the keyword ranking', () => {
    // a and b are 0.1 apart on a 9-point scale; b is far ahead by vector, so it moves up;
    // c stays ahead of the vector-only e, which was not a keyword match at all.
    expect(ids(convexFusion(kw, vec, 0.1))).toEqual(['b', 'a', 'c', 'e', 'd']);
  });

  it('min-max normalises each list and combines (1 - w)·keyword + w·vector', () => {
    const fused = new Map(convexFusion(kw, vec, 0.25).map((x) => [x.id, x.score]));
    expect(fused.get('a')).toBeCloseTo(0.75 * 1 + 0.25 * 0, 12);
    expect(fused.get('b')).toBeCloseTo(0.75 * (8.9 / 9) + 0.25 * 1, 12);
    expect(fused.get('e')).toBeCloseTo(0.25 * (0.5 / 0.6), 12);
    expect(fused.get('d')).toBeCloseTo(0, 12);
  });

  it('handles empty and single-score lists', () => {
    expect(convexFusion([], [], 0.5)).toEqual([]);
    expect(convexFusion([{ id: 'x', score: 3 }], [], 0.5)).toEqual([{ id: 'x', score: 0.5 }]);
    // Equal scores tie; ties break by id so results are stable.
    expect(
      ids(
        convexFusion(
          [
            { id: 'z', score: 1 },
            { id: 'y', score: 1 },
          ],
          [],
          0,
        ),
      ),
    ).toEqual(['y', 'z']);
  });
});
