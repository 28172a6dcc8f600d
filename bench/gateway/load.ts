import { Pool } from 'undici';

/** What one closed-loop run measured (only requests that completed inside the window). */
export interface LoadResult {
  concurrency: number;
  /** Length of the measuring window, seconds. */
  seconds: number;
  /** Completed 2xx requests in the window. */
  ok: number;
  /** Completed 2xx requests, warm-up included (what the target's usage ledger should hold). */
  okTotal: number;
  /** Latency of each of them, ms (whole response; for streams, to the last byte). */
  latencyMs: number[];
  /** Time to the first SSE `data:` chunk, ms (streams only). */
  ttftMs: number[];
  /** `x-rampart-overhead-ms` values when the target sends them. */
  overheadMs: number[];
  /** Non-2xx responses by status, over warm-up and window both. */
  statuses: Map<number, number>;
  /** Requests that threw (connection errors) or streams that ended without `[DONE]`. */
  failures: number;
  /** The first error seen, for the log. */
  firstError: string | undefined;
  /** CPU seconds the `cpu` probes counted over the window, by probe name. */
  cpuSeconds: Record<string, number>;
}

export interface LoadSpec {
  url: string;
  /** Default POST; a GET sends no body. */
  method?: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
  stream: boolean;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Cumulative CPU-seconds counters, read when the window opens and when it closes. */
  cpu?: Record<string, () => number>;
}

/** Two runs of the same target and spec as one (rounds of an interleaved comparison). */
export function mergeResults(a: LoadResult, b: LoadResult): LoadResult {
  const statuses = new Map(a.statuses);
  for (const [status, n] of b.statuses) statuses.set(status, (statuses.get(status) ?? 0) + n);
  const cpuSeconds = { ...a.cpuSeconds };
  for (const [probe, v] of Object.entries(b.cpuSeconds))
    cpuSeconds[probe] = (cpuSeconds[probe] ?? 0) + v;
  return {
    concurrency: a.concurrency,
    seconds: a.seconds + b.seconds,
    ok: a.ok + b.ok,
    okTotal: a.okTotal + b.okTotal,
    latencyMs: a.latencyMs.concat(b.latencyMs),
    ttftMs: a.ttftMs.concat(b.ttftMs),
    overheadMs: a.overheadMs.concat(b.overheadMs),
    statuses,
    failures: a.failures + b.failures,
    firstError: a.firstError ?? b.firstError,
    cpuSeconds,
  };
}

const nowNs = (): bigint => process.hrtime.bigint();
const ms = (ns: bigint): number => Number(ns) / 1e6;

/**
 * Closed loop: `concurrency` virtual users on a Pool with as many connections, each sending its
 * next request as soon as the previous response has been read to the end. Warm-up requests
 * open the connections and let the JIT settle; then only requests completing inside the fixed
 * window count, so req/s is completions per second of window and the users keep full load on
 * the target until the window closes.
 */
export async function runClosedLoop(spec: LoadSpec): Promise<LoadResult> {
  const pool = new Pool(spec.url, {
    connections: spec.concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const result: LoadResult = {
    concurrency: spec.concurrency,
    seconds: spec.durationMs / 1000,
    ok: 0,
    okTotal: 0,
    latencyMs: [],
    ttftMs: [],
    overheadMs: [],
    statuses: new Map(),
    failures: 0,
    firstError: undefined,
    cpuSeconds: {},
  };
  const start = nowNs();
  const windowStart = start + BigInt(spec.warmupMs) * 1_000_000n;
  const windowEnd = windowStart + BigInt(spec.durationMs) * 1_000_000n;

  const fail = (why: string): void => {
    result.failures++;
    result.firstError ??= why;
  };

  const user = async (): Promise<void> => {
    while (nowNs() < windowEnd) {
      const t0 = nowNs();
      let firstData: bigint | undefined;
      try {
        const res = await pool.request({
          method: spec.method ?? 'POST',
          path: spec.path,
          headers: spec.headers,
          body: spec.method === 'GET' ? null : spec.body,
        });
        if (res.statusCode < 200 || res.statusCode > 299) {
          const text = await res.body.text();
          result.statuses.set(res.statusCode, (result.statuses.get(res.statusCode) ?? 0) + 1);
          result.firstError ??= `${res.statusCode} ${text.slice(0, 300)}`;
          continue;
        }
        if (spec.stream) {
          let tail = '';
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            if (firstData === undefined && chunk.includes('data:')) firstData = nowNs();
            tail = (tail + chunk.toString('latin1')).slice(-64);
          }
          if (!tail.includes('data: [DONE]')) {
            fail(`stream ended without data: [DONE] (tail ${JSON.stringify(tail)})`);
            continue;
          }
        } else {
          await res.body.dump({ limit: 1 << 20 });
        }
        const t1 = nowNs();
        result.okTotal++;
        if (t1 < windowStart || t1 >= windowEnd) continue;
        result.ok++;
        result.latencyMs.push(ms(t1 - t0));
        if (firstData !== undefined) result.ttftMs.push(ms(firstData - t0));
        const overhead = res.headers['x-rampart-overhead-ms'];
        if (typeof overhead === 'string') result.overheadMs.push(Number(overhead));
      } catch (err) {
        fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      }
    }
  };
  const probes = Object.entries(spec.cpu ?? {});
  let opened: number[] = [];
  const openTimer = setTimeout(() => (opened = probes.map(([, read]) => read())), spec.warmupMs);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    probes.forEach(([name, read], i) => (result.cpuSeconds[name] = read() - (opened[i] ?? 0)));
  };
  const closeTimer = setTimeout(close, spec.warmupMs + spec.durationMs);
  await Promise.all(Array.from({ length: spec.concurrency }, user));
  clearTimeout(openTimer);
  clearTimeout(closeTimer);
  // The last users can finish a moment before the timer's turn comes.
  close();
  await pool.close();
  return result;
}

/** Nearest-rank percentile of ascending values (NaN when there are none). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** p50/p90/p99 of a list of ms values. */
export function summarize(values: number[]): { p50: number; p90: number; p99: number } {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99) };
}
