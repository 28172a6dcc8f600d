import { describe, expect, it } from 'vitest';
import { chartData, chartPlan } from './sql-chart';

describe('chartPlan', () => {
  const cols = [{ name: 'food_type' }, { name: 'n' }];
  it('charts a label column against numeric ones, numeric strings included', () => {
    const rows = [
      ['Italian', '2'],
      ['Thai', 5],
    ];
    const plan = chartPlan(cols, rows);
    expect(plan).toEqual({ label: 0, values: [1] });
    expect(plan && chartData(plan, cols, rows)).toEqual([
      { food_type: 'Italian', n: 2 },
      { food_type: 'Thai', n: 5 },
    ]);
  });
  it('offers no chart for one column, only text, or no rows', () => {
    expect(chartPlan([{ name: 'n' }], [[1]])).toBeUndefined();
    expect(chartPlan(cols, [['a', 'b']])).toBeUndefined();
    expect(chartPlan(cols, [])).toBeUndefined();
  });
});
