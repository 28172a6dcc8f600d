import { describe, expect, it } from 'vitest';
import { judgePrompt, JUDGE_PROMPTS, JudgeFailed, parseVerdict } from './judges.js';
import { populationStabilityIndex, TopScoreDrift } from './drift.js';
import { cachingClient, requestHash, type RampartClient } from './client.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('judge verdicts', () => {
  it('reads a verdict, fenced or not', () => {
    expect(parseVerdict('{"score":0.7,"pass":true,"reason":"ok"}')).toEqual({
      score: 0.7,
      pass: true,
      reason: 'ok',
    });
    expect(parseVerdict('```json\n{"score":0,"pass":false,"reason":"no"}\n```').pass).toBe(false);
  });

  it('refuses anything else: prose, extra or missing fields, a score out of range', () => {
    for (const bad of [
      'PASS',
      '{"score":1,"pass":true}',
      '{"score":2,"pass":true,"reason":"x"}',
      '{"score":1,"pass":"yes","reason":"x"}',
      '{"score":1,"pass":true,"reason":"x","extra":1}',
      '[]',
    ])
      expect(() => parseVerdict(bad), bad).toThrow(JudgeFailed);
  });

  it('has a versioned prompt file for each judge', () => {
    for (const kind of Object.keys(JUDGE_PROMPTS) as (keyof typeof JUDGE_PROMPTS)[]) {
      expect(JUDGE_PROMPTS[kind]).toMatch(/\.v\d+$/);
      expect(judgePrompt(kind)).toContain('"score"');
    }
  });
});

describe('drift', () => {
  it('PSI is 0 for the same distribution and grows with a shift', () => {
    const base = Array.from({ length: 500 }, (_, i) => (i % 100) / 100);
    expect(populationStabilityIndex(base, base)).toBeCloseTo(0, 6);
    const shifted = base.map((x) => Math.min(0.99, x * 0.5));
    expect(populationStabilityIndex(base, shifted)).toBeGreaterThan(0.25);
  });

  it('compares the latest window with the first one, once it has filled', () => {
    const d = new TopScoreDrift(50);
    for (let i = 0; i < 50; i++) d.observe(0.8 + (i % 10) / 100);
    for (let i = 0; i < 49; i++) d.observe(0.2);
    expect(d.psi()).toBe(0);
    d.observe(0.2);
    expect(d.psi()).toBeGreaterThan(1);
  });
});

describe('the response cache', () => {
  it('answers a repeated POST from disk, keyed by body and repeat, never caching errors or GETs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rampart-cache-'));
    try {
      let calls = 0;
      let status = 200;
      const inner: RampartClient = async () => ({
        status,
        body: { n: ++calls },
        requestId: `r${calls}`,
      });
      const cached = cachingClient(inner, dir);
      expect((await cached('POST', '/v1/ask', { q: 1 })).body).toEqual({ n: 1 });
      expect(await cached('POST', '/v1/ask', { q: 1 })).toMatchObject({
        body: { n: 1 },
        cached: true,
      });
      expect((await cached('POST', '/v1/ask', { q: 1 }, 'judge:1')).body).toEqual({ n: 2 });
      expect((await cached('GET', '/v1/runs/x')).body).toEqual({ n: 3 });
      expect((await cached('GET', '/v1/runs/x')).body).toEqual({ n: 4 });
      status = 500;
      expect((await cached('POST', '/v1/ask', { q: 2 })).body).toEqual({ n: 5 });
      status = 200;
      expect((await cached('POST', '/v1/ask', { q: 2 })).body).toEqual({ n: 6 });
      expect(requestHash('POST', '/a', { x: 1 })).not.toBe(requestHash('POST', '/a', { x: 2 }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
