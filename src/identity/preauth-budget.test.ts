import { describe, expect, it } from 'vitest';
import { PreAuthBudget, PreAuthBusy } from './preauth-budget.js';

describe('PreAuthBudget', () => {
  it('runs at most `concurrency` at once, queues a few, refuses the rest with 503', async () => {
    const budget = new PreAuthBudget(2, 1);
    let active = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const job = () =>
      budget.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((r) => releases.push(r));
        active--;
        return 'done';
      });
    const running = [job(), job(), job()];
    await expect(job()).rejects.toBeInstanceOf(PreAuthBusy);
    await new Promise((r) => setImmediate(r));
    expect(budget.running).toBe(2);
    while (releases.length) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(running)).toEqual(['done', 'done', 'done']);
    expect(peak).toBe(2);
    expect(budget.running).toBe(0);
  });

  it('frees its slot when the work throws', async () => {
    const budget = new PreAuthBudget(1, 0);
    await expect(budget.run(() => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await budget.run(() => Promise.resolve(1))).toBe(1);
  });
});
