import { describe, expect, it } from 'vitest';
import { pickWeighted, stepsFrom, type RouteSteps } from './routing.js';

/** The try order with the weighted pick drawn by `random` (as the planner does per request). */
const attemptOrder = (route: RouteSteps, model: string, random: () => number) =>
  stepsFrom(route, pickWeighted(route.targets, random), model);

const targets = [
  { provider: 'a', model: 'm1', weight: 90 },
  { provider: 'b', model: 'm2', weight: 10 },
  { provider: 'c', model: 'm3', weight: 0 },
];

describe('routing', () => {
  it('picks targets in proportion to their weights and never a zero-weight one', () => {
    expect(pickWeighted(targets, () => 0).provider).toBe('a');
    expect(pickWeighted(targets, () => 0.899).provider).toBe('a');
    expect(pickWeighted(targets, () => 0.9).provider).toBe('b');
    expect(pickWeighted(targets, () => 0.99999).provider).toBe('b');
    // A deterministic sweep over [0, 1) splits exactly 90/10.
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const p = pickWeighted(targets, () => i / 1000).provider;
      counts[p] = (counts[p] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 900, b: 100 });
  });

  it('tries the chosen target, then fallbacks in order, without repeats; * passes the model through', () => {
    const route = {
      targets: [{ provider: 'main', model: '*', weight: 1 }],
      fallbacks: [
        { provider: 'backup', model: 'small' },
        { provider: 'main', model: '*' },
        { provider: 'other', model: 'x' },
      ],
    };
    expect(attemptOrder(route, 'gpt-4o', () => 0)).toEqual([
      { provider: 'main', model: 'gpt-4o' },
      { provider: 'backup', model: 'small' },
      { provider: 'other', model: 'x' },
    ]);
  });

  it("carries the route's cache setting on every step, and nothing when the route has none", () => {
    const route = {
      targets: [{ provider: 'main', model: 'a', weight: 1 }],
      fallbacks: [{ provider: 'backup', model: 'b' }],
    };
    const cache = { ttlSeconds: 30 };
    expect(attemptOrder({ ...route, cache }, 'x', () => 0).map((s) => s.cache)).toEqual([
      cache,
      cache,
    ]);
    expect(attemptOrder({ ...route, cache: null }, 'x', () => 0)[0]).not.toHaveProperty('cache');
  });
});
