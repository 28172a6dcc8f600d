import { describe, expect, it } from 'vitest';
import { Planner } from './planner.js';
import type { RouteRow } from '../config/routing-store.js';

const principal = { tenantId: 't1' } as never;

function snapshot(routes: RouteRow[], providers: string[]) {
  const handles = new Map(
    providers.map((name) => [
      name,
      { type: 'openai' as const, config: { type: 'openai', baseUrl: `https://${name}.test/v1` } },
    ]),
  );
  return {
    route: (model: string) =>
      routes.find((r) => r.alias === model) ?? routes.find((r) => r.alias === '*'),
    provider: (name: string) => handles.get(name),
    price: () => undefined,
  };
}

function row(alias: string, targets: RouteRow['targets'], fallbacks: RouteRow['fallbacks'] = []) {
  const at = new Date(0);
  return { id: alias, alias, targets, fallbacks, cache: null, created_at: at, updated_at: at };
}

function plannerOver(config: ReturnType<typeof snapshot>) {
  let current = config;
  const planner = new Planner({ get: () => Promise.resolve(current) } as never);
  return { planner, swap: (next: ReturnType<typeof snapshot>) => (current = next) };
}

describe('Planner', () => {
  it('plans the pick, then the fallbacks, and reuses the plan of a pick within a snapshot', async () => {
    const route = row(
      'default',
      [{ provider: 'a', model: 'm1', weight: 100 }],
      [{ provider: 'b', model: 'm2' }],
    );
    const { planner } = plannerOver(snapshot([route], ['a', 'b']));
    const first = await planner.plan(principal, 'default');
    expect(first.map((p) => [p.provider, p.model, p.config.baseUrl])).toEqual([
      ['a', 'm1', 'https://a.test/v1'],
      ['b', 'm2', 'https://b.test/v1'],
    ]);
    expect(await planner.plan(principal, 'default')).toBe(first);
  });

  it('plans anew from a new snapshot (a changed route is seen by the next request)', async () => {
    const { planner, swap } = plannerOver(
      snapshot([row('default', [{ provider: 'a', model: 'm1', weight: 1 }])], ['a', 'b']),
    );
    await planner.plan(principal, 'default');
    swap(snapshot([row('default', [{ provider: 'b', model: 'm9', weight: 1 }])], ['a', 'b']));
    const next = await planner.plan(principal, 'default');
    expect(next.map((p) => [p.provider, p.model])).toEqual([['b', 'm9']]);
  });

  it('keeps weighted picks random per request, one shared plan per pick', async () => {
    const route = row('canary', [
      { provider: 'a', model: 'stable', weight: 50 },
      { provider: 'b', model: 'canary', weight: 50 },
    ]);
    const { planner } = plannerOver(snapshot([route], ['a', 'b']));
    const seen = new Map<string, unknown>();
    for (let i = 0; i < 200; i++) {
      const plan = await planner.plan(principal, 'canary');
      const first = plan[0]?.model ?? '';
      if (seen.has(first)) expect(plan).toBe(seen.get(first));
      else seen.set(first, plan);
    }
    expect([...seen.keys()].sort()).toEqual(['canary', 'stable']);
  });

  it("passes the requested name through on a '*' route, per request", async () => {
    const { planner } = plannerOver(
      snapshot([row('*', [{ provider: 'a', model: '*', weight: 1 }])], ['a']),
    );
    expect((await planner.plan(principal, 'gpt-x'))[0]?.model).toBe('gpt-x');
    expect((await planner.plan(principal, 'gpt-y'))[0]?.model).toBe('gpt-y');
  });

  it('answers model_not_found when no route or no provider of it exists', async () => {
    const { planner } = plannerOver(
      snapshot([row('orphan', [{ provider: 'gone', model: 'm', weight: 1 }])], []),
    );
    await expect(planner.plan(principal, 'nope')).rejects.toMatchObject({
      code: 'model_not_found',
    });
    await expect(planner.plan(principal, 'orphan')).rejects.toMatchObject({
      code: 'model_not_found',
    });
  });
});
