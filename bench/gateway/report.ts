import { summarize, type LoadResult } from './load.js';

/** One measured row: a target at a concurrency. */
export interface Row {
  target: string;
  result: LoadResult;
}

const f3 = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '—');
const signed = (n: number): string =>
  Number.isFinite(n) ? (n >= 0 ? '+' : '') + n.toFixed(3) : '—';

/** A plain-text table: the first column left-aligned, the figures right-aligned. */
export function table(head: string[], rows: string[][]): string {
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

/** CPU µs per completed request of one probe over the window ('' when it was not measured). */
export function cpuPerRequest(r: LoadResult, probe: string): string {
  const seconds = r.cpuSeconds[probe];
  if (seconds === undefined || r.ok === 0) return '';
  return ((seconds * 1e6) / r.ok).toFixed(0);
}

/** The request table: req/s, p50/p90/p99 and the latency added over the direct call. */
export function requestTable(rows: Row[], direct: string): string {
  const body = rows.map(({ target, result }) => {
    const s = summarize(result.latencyMs);
    const base = rows.find(
      (r) => r.target === direct && r.result.concurrency === result.concurrency,
    );
    const d = base ? summarize(base.result.latencyMs) : undefined;
    const own = result.overheadMs.length ? summarize(result.overheadMs) : undefined;
    return [
      target,
      String(result.concurrency),
      (result.ok / result.seconds).toFixed(0),
      f3(s.p50),
      f3(s.p90),
      f3(s.p99),
      target === direct || !d ? '' : signed(s.p50 - d.p50),
      target === direct || !d ? '' : signed(s.p99 - d.p99),
      own ? f3(own.p50) : '',
      own ? f3(own.p99) : '',
      cpuPerRequest(result, 'target'),
      cpuPerRequest(result, 'stores'),
      cpuPerRequest(result, 'upstream'),
      cpuPerRequest(result, 'load'),
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
      'self p99',
      'cpu µs',
      'stores µs',
      'upstream µs',
      'load µs',
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
  /** The limit scaled by this run's bare forwarder against the issue's reference (NaN: unknown). */
  scaled: number;
}

/**
 * The issue's reference machine: its bare forwarder added 0.17 ms at p50 (concurrency 1) and
 * saturated near 22,000 req/s. The goals are set against that floor.
 */
export const REFERENCE_FORWARDER = { addedP50Ms: 0.17, reqPerSecond: 22_000 };

/** Goals with a PASS/MISS column; a goal without a figure (target not run) reads n/a. */
export function goalTable(goals: Goal[]): string {
  const amount = (n: number, unit: Goal['unit']): string =>
    unit === 'req/s' ? n.toFixed(0) : n.toFixed(3);
  return table(
    ['goal (all policies on)', 'figure', 'target', 'result', 'scaled target', 'scaled'],
    goals.map((g) => {
      const met = (limit: number): boolean => (g.atMost ? g.figure <= limit : g.figure >= limit);
      const shown = g.unit === 'req/s' ? g.figure.toFixed(0) : signed(g.figure);
      const known = Number.isFinite(g.figure);
      const scaledKnown = known && Number.isFinite(g.scaled);
      return [
        g.what,
        known ? `${shown} ${g.unit}` : '—',
        `${g.atMost ? '≤' : '≥'} ${g.limit} ${g.unit}`,
        known ? (met(g.limit) ? 'PASS' : 'MISS') : 'n/a',
        scaledKnown ? `${g.atMost ? '≤' : '≥'} ${amount(g.scaled, g.unit)} ${g.unit}` : '—',
        scaledKnown ? (met(g.scaled) ? 'pass' : 'miss') : 'n/a',
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
  labels: { direct: string; measured: string; forwarder: string },
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
  // How this machine's floor compares with the reference: latency goals scale with what the
  // forwarder adds at c1, the throughput goal with what the forwarder saturates at (c64).
  const fwd1 = at(rows, labels.forwarder, 1);
  const direct1 = at(rows, labels.direct, 1);
  const fwd64 = at(rows, labels.forwarder, 64);
  const latencyScale =
    fwd1 && direct1
      ? (summarize(fwd1.latencyMs).p50 - summarize(direct1.latencyMs).p50) /
        REFERENCE_FORWARDER.addedP50Ms
      : Number.NaN;
  const rateScale = fwd64
    ? fwd64.ok / fwd64.seconds / REFERENCE_FORWARDER.reqPerSecond
    : Number.NaN;
  const goals: Omit<Goal, 'scaled'>[] = [
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
  return goals.map((g) => ({
    ...g,
    scaled: g.limit * (g.unit === 'req/s' ? rateScale : latencyScale),
  }));
}
