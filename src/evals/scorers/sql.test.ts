import { describe, expect, it } from 'vitest';
import { agentChecks, costCeiling, latencyCeiling } from './ceilings.js';
import { goldIsOrdered, sqlExecutionMatch } from './sql.js';

describe('SQL execution match', () => {
  it('compares rows as a multiset unless the gold query orders them', () => {
    const gold = [
      [1, 'a'],
      [2, 'b'],
    ];
    expect(
      sqlExecutionMatch(
        [
          [2, 'b'],
          [1, 'a'],
        ],
        gold,
        false,
      ),
    ).toMatchObject({ pass: true, score: 1 });
    expect(
      sqlExecutionMatch(
        [
          [2, 'b'],
          [1, 'a'],
        ],
        gold,
        true,
      ),
    ).toMatchObject({ pass: false, score: 0 });
    expect(
      sqlExecutionMatch(
        [
          [1, 'a'],
          [2, 'b'],
        ],
        gold,
        true,
      ).pass,
    ).toBe(true);
  });

  it('numbers equal numeric strings (pg numerics arrive as text); counts matter', () => {
    expect(sqlExecutionMatch([['3.50', 'x']], [[3.5, 'x']], false).pass).toBe(true);
    expect(sqlExecutionMatch([[1], [1]], [[1]], false)).toMatchObject({ pass: false });
    expect(sqlExecutionMatch([[1], [2]], [[1], [1]], false).pass).toBe(false);
    expect(sqlExecutionMatch([['1']], [['a']], false).pass).toBe(false);
  });

  it('finds a top-level ORDER BY, ignoring one inside a subquery or window', () => {
    expect(goldIsOrdered('SELECT a FROM t ORDER BY a')).toBe(true);
    expect(goldIsOrdered('SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3) s')).toBe(false);
    expect(goldIsOrdered('SELECT rank() OVER (ORDER BY a) FROM t')).toBe(false);
  });
});

describe('ceilings and agent checks', () => {
  it('cost and latency ceilings', () => {
    expect(costCeiling(0.002, 0.01).pass).toBe(true);
    expect(costCeiling(0.02, 0.01)).toMatchObject({ pass: false, score: 0 });
    expect(latencyCeiling(120, 500).pass).toBe(true);
    expect(latencyCeiling(900, 500).pass).toBe(false);
  });

  it('tools called, tools not called, approvals requested', () => {
    const checks = agentChecks(
      ['knowledge.search', 'orders.create'],
      {
        toolsCalled: ['knowledge.search'],
        toolsNotCalled: ['orders.delete'],
        approvalsRequested: 1,
      },
      1,
    );
    expect(checks.map((c) => c.pass)).toEqual([true, true, true]);
    const bad = agentChecks(
      ['orders.delete'],
      {
        toolsCalled: ['knowledge.search'],
        toolsNotCalled: ['orders.delete'],
        approvalsRequested: 0,
      },
      2,
    );
    expect(bad.map((c) => c.pass)).toEqual([false, false, false]);
    expect(bad[0]?.detail).toContain('knowledge.search');
  });
});
