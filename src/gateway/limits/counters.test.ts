import { describe, expect, it } from 'vitest';
import { LocalCounters, WINDOW_MS } from './counters.js';

describe('LocalCounters (in-process limits)', () => {
  it('admits all counters or none, and resets window counters at the minute boundary', async () => {
    let now = 5 * WINDOW_MS + 1_000;
    const c = new LocalCounters(() => now);
    const rpm = { kind: 'window' as const, key: 'k:rpm', limit: 2, cost: 1 };
    const conc = { kind: 'gauge' as const, key: 'k:conc', limit: 5, cost: 1 };
    expect(await c.acquire([rpm, conc])).toMatchObject({ ok: true, used: [1, 1] });
    expect(await c.acquire([rpm, conc])).toMatchObject({ ok: true, used: [2, 2] });
    const refused = await c.acquire([rpm, conc]);
    expect(refused).toEqual({ ok: false, failed: 0, used: [2, 2], resetMs: WINDOW_MS - 1_000 });
    now += WINDOW_MS; // next window: the rpm counter starts again, the gauge does not
    expect(await c.acquire([rpm, conc])).toMatchObject({ ok: true, used: [1, 3] });
  });

  it('releases gauges and never goes below zero', async () => {
    const c = new LocalCounters(() => 0);
    const conc = { kind: 'gauge' as const, key: 'g', limit: 1, cost: 1 };
    expect((await c.acquire([conc])).ok).toBe(true);
    expect((await c.acquire([conc])).ok).toBe(false);
    await c.adjust([{ kind: 'gauge', key: 'g', delta: -1 }]);
    await c.adjust([{ kind: 'gauge', key: 'g', delta: -1 }]);
    expect(await c.acquire([conc])).toMatchObject({ ok: true, used: [1] });
  });
});
