import { describe, expect, it } from 'vitest';
import { acquireLocalBudgets, LocalBudgets, type LocalHold } from './local-budgets.js';

const TTL = 86_400_000;
const hold = (key: string, budgetTicks: number, costTicks: number): LocalHold => ({
  key,
  budgetTicks,
  costTicks,
  ttlMs: TTL,
});

/** Budgets seeded with the given spent ticks, on a clock the test moves. */
async function seeded(spent: Record<string, number>) {
  const clock = { now: 1_000_000 };
  const b = new LocalBudgets(() => clock.now);
  const holds = Object.keys(spent).map((k) => hold(k, 0, 0));
  await b.seed(
    holds,
    holds.map((_, i) => i),
    (idx) => Promise.resolve(idx.map((i) => spent[holds[i]?.key ?? ''] ?? 0)),
  );
  return { b, clock };
}

describe('LocalBudgets', () => {
  it('reports budgets it does not hold as missing until they are seeded', async () => {
    const b = new LocalBudgets();
    const holds = [hold('a', 100, 10), hold('b', 100, 10)];
    expect(b.reserve(holds, 'r1', 1000)).toEqual({ missing: [0, 1] });
    await b.seed(holds, [1], () => Promise.resolve([40]));
    expect(b.reserve(holds, 'r1', 1000)).toEqual({ missing: [0] });
    expect(b.peek('b')).toEqual({ spent: 40, reserved: 0, inFlight: 0 });
  });

  it('reserves in every budget or in none, up to exactly the budget', async () => {
    const { b } = await seeded({ key: 0, tenant: 50 });
    const holds = [hold('key', 100, 25), hold('tenant', 100, 25)];
    expect(b.reserve(holds, 'r1', 1000)).toEqual({ ok: true });
    expect(b.reserve(holds, 'r2', 1000)).toEqual({ ok: true });
    // The tenant budget is full (50 spent + 50 reserved): the key's is left untouched.
    expect(b.reserve(holds, 'r3', 1000)).toEqual({ ok: false, budgetFailed: 1 });
    expect(b.peek('key')).toEqual({ spent: 0, reserved: 50, inFlight: 2 });
    expect(b.peek('tenant')).toEqual({ spent: 50, reserved: 50, inFlight: 2 });
  });

  it('settles the actual cost and gives the rest of the reservation back', async () => {
    const { b } = await seeded({ k: 0 });
    const holds = [hold('k', 100, 60)];
    expect(b.reserve(holds, 'r1', 1000)).toEqual({ ok: true });
    expect(b.reserve(holds, 'r2', 1000)).toMatchObject({ ok: false });
    b.settle([{ key: 'k', actualTicks: 15 }], 'r1');
    expect(b.peek('k')).toEqual({ spent: 15, reserved: 0, inFlight: 0 });
    expect(b.reserve(holds, 'r2', 1000)).toEqual({ ok: true });
  });

  it('cancel() gives back an unused reservation and charges nothing', async () => {
    const { b } = await seeded({ k: 10 });
    const holds = [hold('k', 100, 30)];
    b.reserve(holds, 'r1', 1000);
    b.cancel(holds, 'r1');
    b.cancel(holds, 'r1');
    expect(b.peek('k')).toEqual({ spent: 10, reserved: 0, inFlight: 0 });
  });

  it('reclaims expired reservations only when a budget would refuse; a late settle charges once', async () => {
    const { b, clock } = await seeded({ k: 0 });
    const holds = [hold('k', 100, 60)];
    expect(b.reserve(holds, 'orphan', 1000)).toEqual({ ok: true });
    clock.now += 999;
    expect(b.reserve(holds, 'r2', 1000)).toMatchObject({ ok: false });
    clock.now += 1;
    // Now 1000 ms old: the reserving request's reclaim age lets it take the orphan's place.
    expect(b.reserve(holds, 'r2', 1000)).toEqual({ ok: true });
    expect(b.peek('k')).toEqual({ spent: 0, reserved: 60, inFlight: 1 });
    b.settle([{ key: 'k', actualTicks: 50 }], 'r2');
    b.settle([{ key: 'k', actualTicks: 50 }], 'orphan');
    expect(b.peek('k')).toEqual({ spent: 100, reserved: 0, inFlight: 0 });
    expect(b.reserve([hold('k', 100, 1)], 'r3', 1000)).toMatchObject({ ok: false });
  });

  it('an old reservation costs nothing while the budget has room: it is not reclaimed', async () => {
    const { b, clock } = await seeded({ k: 0 });
    expect(b.reserve([hold('k', 100, 10)], 'old', 1000)).toEqual({ ok: true });
    clock.now += 5000;
    expect(b.reserve([hold('k', 100, 10)], 'new', 1000)).toEqual({ ok: true });
    expect(b.peek('k')).toEqual({ spent: 0, reserved: 20, inFlight: 2 });
  });

  it('concurrent first uses share one seed load; a failed load is retried by the next', async () => {
    const b = new LocalBudgets();
    const holds = [hold('k', 100, 10)];
    let loads = 0;
    let fail = true;
    const load = async () => {
      loads++;
      await new Promise((r) => setImmediate(r));
      if (fail) throw new Error('database down');
      return [70];
    };
    const failed = await Promise.allSettled([b.seed(holds, [0], load), b.seed(holds, [0], load)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(loads).toBe(1);
    expect(b.peek('k')).toBeUndefined();
    fail = false;
    await Promise.all([b.seed(holds, [0], load), b.seed(holds, [0], load)]);
    expect(loads).toBe(2);
    expect(b.peek('k')).toEqual({ spent: 70, reserved: 0, inFlight: 0 });
    // Seeded already: nothing is loaded again.
    await b.seed(holds, [0], load);
    expect(loads).toBe(2);
  });
});

describe('acquireLocalBudgets', () => {
  it('shares one state per database until the last holder releases it', async () => {
    const database = {};
    const one = acquireLocalBudgets(database);
    const two = acquireLocalBudgets(database);
    expect(two.budgets).toBe(one.budgets);
    expect(acquireLocalBudgets({}).budgets).not.toBe(one.budgets);
    await one.budgets.seed([hold('k', 1, 1)], [0], () => Promise.resolve([5]));
    one.release();
    one.release(); // a second release of the same holder does not count
    const three = acquireLocalBudgets(database);
    expect(three.budgets).toBe(one.budgets);
    expect(three.budgets.peek('k')).toEqual({ spent: 5, reserved: 0, inFlight: 0 });
    three.release();
    two.release();
  });

  it('a new holder after the last release starts empty (it seeds from Postgres)', () => {
    const database = {};
    const one = acquireLocalBudgets(database);
    one.release();
    const next = acquireLocalBudgets(database);
    expect(next.budgets).not.toBe(one.budgets);
    next.release();
  });
});
