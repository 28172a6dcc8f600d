import type { CheckResult } from '../schemas.js';

/** A cell in a comparable form: numbers and numeric strings alike ("3.50" = 3.5), JSON otherwise. */
function cell(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return `n:${Number(v)}`;
  if (typeof v === 'string' && /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/iu.test(v.trim()))
    return `n:${Number(v)}`;
  if (v instanceof Date) return `s:${v.toISOString()}`;
  return typeof v === 'string' ? `s:${v}` : `j:${JSON.stringify(v)}`;
}
const rowKey = (row: readonly unknown[]): string => JSON.stringify(row.map(cell));

/** True when the gold query orders its result (a top-level ORDER BY), so order must match. */
export function goldIsOrdered(goldSql: string): boolean {
  // The last ORDER BY outside parentheses: strip parenthesised groups first.
  let s = goldSql;
  for (let prev = ''; prev !== s;) {
    prev = s;
    s = s.replace(/\([^()]*\)/gu, '()');
  }
  return /\border\s+by\b/iu.test(s);
}

/**
 * Execution match: the answer's rows equal the gold query's rows, as a multiset unless the gold
 * query orders its result. Columns compare by position (names may differ).
 */
export function sqlExecutionMatch(
  actual: readonly (readonly unknown[])[],
  gold: readonly (readonly unknown[])[],
  ordered: boolean,
): CheckResult {
  const a = actual.map(rowKey);
  const g = gold.map(rowKey);
  let ok = a.length === g.length;
  if (ok && ordered) ok = a.every((k, i) => k === g[i]);
  else if (ok) {
    const counts = new Map<string, number>();
    for (const k of g) counts.set(k, (counts.get(k) ?? 0) + 1);
    for (const k of a) {
      const n = counts.get(k) ?? 0;
      if (n === 0) {
        ok = false;
        break;
      }
      counts.set(k, n - 1);
    }
  }
  return {
    name: 'sqlExecutionMatch',
    pass: ok,
    score: ok ? 1 : 0,
    detail: ok
      ? `${a.length} rows${ordered ? ', in order' : ''}`
      : `got ${a.length} rows, gold has ${g.length}${ordered ? ' (ordered)' : ''}`,
  };
}
