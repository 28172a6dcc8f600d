import { describe, expect, it } from 'vitest';
import { usageColumns, type BufferedUsage } from './usage-store.js';

const row = (i: number): BufferedUsage => ({
  at: new Date(Date.UTC(2026, 11, 6, 12, 0, 0, i)),
  builtin: i % 2 === 0 ? { input: 0.15, output: 0.6, cachedInput: 0.075 } : undefined,
  event: {
    keyId: null,
    userId: null,
    endpoint: 'chat',
    alias: `alias "${i}"`,
    provider: 'p',
    targetModel: 'm',
    promptTokens: i,
    completionTokens: 2 * i,
    cachedTokens: 3 * i,
    latencyMs: i + 0.4,
    upstreamLatencyMs: i % 3 === 0 ? null : i,
    status: 200,
    stream: i % 2 === 1,
    cacheHit: false,
    requestId: `r-${i}`,
  },
});

describe('usageColumns', () => {
  it('gives one array literal per column, every row in order, across several turns', async () => {
    const batch = Array.from({ length: 120 }, (_, i) => row(i));
    // 120 rows × 21 columns is more than one turn's cells: other work gets a turn in between,
    // where building it all at once would resolve before anything else could run.
    let otherWorkRan = false;
    const pending = usageColumns(batch).then((columns) => ({ columns, otherWorkRan }));
    setImmediate(() => (otherWorkRan = true));
    const { columns, otherWorkRan: ranBefore } = await pending;
    expect(ranBefore).toBe(true);
    expect(columns).toHaveLength(21);
    const cells = (literal: string): string[] => literal.slice(1, -1).split(',');
    for (const c of columns) expect(cells(c)).toHaveLength(120);
    const [
      keyId,
      ,
      endpoint,
      alias,
      ,
      ,
      pt,
      ,
      cached,
      latency,
      up,
      ,
      stream,
      ,
      ,
      ,
      requestId,
      at,
      bi,
    ] = columns as string[];
    expect(cells(keyId as string)[0]).toBe('NULL');
    expect(cells(endpoint as string)[5]).toBe('"chat"');
    expect(cells(alias as string)[7]).toBe('"alias \\"7\\""');
    expect(cells(pt as string)[42]).toBe('42');
    // Cached tokens never above the prompt tokens; latencies rounded; null upstream latency kept.
    expect(cells(cached as string)[10]).toBe('10');
    expect(cells(latency as string)[3]).toBe('3');
    expect(cells(up as string)[3]).toBe('NULL');
    expect(cells(up as string)[4]).toBe('4');
    expect(cells(stream as string).slice(0, 2)).toEqual(['f', 't']);
    expect(cells(requestId as string)[119]).toBe('"r-119"');
    expect(cells(at as string)[1]).toBe('"2026-12-06T12:00:00.001Z"');
    expect(cells(bi as string).slice(0, 2)).toEqual(['"0.15"', 'NULL']);
  });

  it('an empty batch gives empty arrays', async () => {
    const columns = await usageColumns([]);
    expect(columns).toHaveLength(21);
    for (const c of columns) expect(c).toBe('{}');
  });
});
