/** What a result can be charted as: a label column and the numeric columns beside it. */
export interface ChartPlan {
  label: number;
  values: number[];
}

const isNumber = (v: unknown): boolean =>
  typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)));

/**
 * A bar chart for a result of one label column and at least one numeric column (counts and
 * sums come back as numeric strings from PostgreSQL), or undefined when nothing fits.
 */
export function chartPlan(columns: { name: string }[], rows: unknown[][]): ChartPlan | undefined {
  if (rows.length < 1 || rows.length > 200 || columns.length < 2) return undefined;
  const numeric = columns.map((_, i) => rows.every((r) => r[i] === null || isNumber(r[i])));
  const values = numeric.flatMap((n, i) => (n ? [i] : []));
  const label = numeric.findIndex((n) => !n);
  if (values.length === 0) return undefined;
  if (label >= 0) return { label, values };
  // All numeric: the first column labels the rest.
  return values.length > 1 ? { label: 0, values: values.slice(1) } : undefined;
}

/** The rows as chart records, keyed by column name. */
export function chartData(
  plan: ChartPlan,
  columns: { name: string }[],
  rows: unknown[][],
): Record<string, string | number>[] {
  return rows.map((r) => ({
    [columns[plan.label]?.name ?? 'label']: String(r[plan.label] ?? ''),
    ...Object.fromEntries(plan.values.map((i) => [columns[i]?.name ?? `c${i}`, Number(r[i] ?? 0)])),
  }));
}
