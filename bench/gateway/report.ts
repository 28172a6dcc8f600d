import { summarize, type LoadResult } from './load.js';

/** One measured row: a target at a concurrency. */
export interface Row {
  target: string;
  result: LoadResult;
}

const f3 = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '—');
const signed = (n: number): string =>
  Number.isFinite(n) ? (n >= 0 ? '+' : '') + n.toFixed(3) : '—';

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Non-2xx responses and failures of a run, or '' when it had none. */
export function errorsOf(r: LoadResult): string {
  const parts = [...r.statuses].map(([status, n]) => `${n}× ${status}`);
  if (r.failures) parts.push(`${r.failures}× failed`);
  return parts.join(', ');
}

/** The request table: req/s, p50/p90/p99 and the latency added over the direct call. */
export function requestTable(rows: Row[], direct: string): string {
  const body = rows.map(({ target, result }) => {
    const s = summarize(result.latencyMs);
    const base = rows.find(
      (r) => r.target === direct && r.result.concurrency === result.concurrency,
    );
    const d = base ? summarize(base.result.latencyMs) : undefined;
    const own = result.overheadMs.length ? summarize(result.overheadMs).p50 : Number.NaN;
    return [
      target,
      String(result.concurrency),
      (result.ok / result.seconds).toFixed(0),
      f3(s.p50),
      f3(s.p90),
      f3(s.p99),
      target === direct || !d ? '' : signed(s.p50 - d.p50),
      target === direct || !d ? '' : signed(s.p99 - d.p99),
      Number.isFinite(own) ? f3(own) : '',
      errorsOf(result) || '0',
    ];
  });
  return table(
    [
      'target',
      'conc',
      'req/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      '+p50 ms',
      '+p99 ms',
      'self p50',
      'non-2xx',
    ],
    body,
  );
}

/** The streaming table: time to first token and to the end of the stream, at concurrency 1. */
export function streamTable(rows: Row[], direct: string): string {
  const base = rows.find((r) => r.target === direct);
  const d = base ? summarize(base.result.ttftMs) : undefined;
  const body = rows.map(({ target, result }) => {
    const t = summarize(result.ttftMs);
    const whole = summarize(result.latencyMs);
    return [
      target,
      String(result.ok),
      f3(t.p50),
      f3(t.p99),
      target === direct || !d ? '' : signed(t.p50 - d.p50),
      target === direct || !d ? '' : signed(t.p99 - d.p99),
      f3(whole.p50),
      errorsOf(result) || '0',
    ];
  });
  return table(
    ['target', 'streams', 'TTFT p50', 'TTFT p99', '+TTFT p50', '+TTFT p99', 'full p50', 'non-2xx'],
    body,
  );
}

/** A goal from the issue: the figure must be at most (or at least) the limit. */
export interface Goal {
  what: string;
  figure: number;
  unit: 'ms' | 'req/s';
  limit: number;
  atMost: boolean;
}

/** Goals with a PASS/MISS column; a goal without a figure (target not run) reads n/a. */
export function goalTable(goals: Goal[]): string {
  return table(
    ['goal (all policies on)', 'figure', 'target', 'result'],
    goals.map((g) => {
      const met = g.atMost ? g.figure <= g.limit : g.figure >= g.limit;
      const shown = g.unit === 'req/s' ? g.figure.toFixed(0) : signed(g.figure);
      return [
        g.what,
        Number.isFinite(g.figure) ? `${shown} ${g.unit}` : '—',
        `${g.atMost ? '≤' : '≥'} ${g.limit} ${g.unit}`,
        Number.isFinite(g.figure) ? (met ? 'PASS' : 'MISS') : 'n/a',
      ];
    }),
  );
}

/**
 * The goals of issue #4 for one target (all policies on): added p50 ≤ 0.4 ms and p99 ≤ 2 ms at
 * concurrency 1, ≥ 8000 req/s at concurrency 64, time to first token + ≤ 0.5 ms at p50.
 */
export function issueGoals(
  rows: Row[],
  streamRows: Row[],
  labels: { direct: string; measured: string },
): Goal[] {
  const at = (list: Row[], target: string, c: number): LoadResult | undefined =>
    list.find((r) => r.target === target && r.result.concurrency === c)?.result;
  const added = (list: Row[], pick: (r: LoadResult) => number[], p: 'p50' | 'p99'): number => {
    const measured = at(list, labels.measured, 1);
    const direct = at(list, labels.direct, 1);
    return measured && direct
      ? summarize(pick(measured))[p] - summarize(pick(direct))[p]
      : Number.NaN;
  };
  const c64 = at(rows, labels.measured, 64);
  const latency = (r: LoadResult): number[] => r.latencyMs;
  return [
    {
      what: 'added p50 at concurrency 1',
      figure: added(rows, latency, 'p50'),
      unit: 'ms',
      limit: 0.4,
      atMost: true,
    },
    {
      what: 'added p99 at concurrency 1',
      figure: added(rows, latency, 'p99'),
      unit: 'ms',
      limit: 2,
      atMost: true,
    },
    {
      what: 'throughput at concurrency 64',
      figure: c64 ? c64.ok / c64.seconds : Number.NaN,
      unit: 'req/s',
      limit: 8000,
      atMost: false,
    },
    {
      what: 'added TTFT p50 (streaming, c1)',
      figure: added(streamRows, (r) => r.ttftMs, 'p50'),
      unit: 'ms',
      limit: 0.5,
      atMost: true,
    },
  ];
}
