import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BoundedLabel, HotCounter, HotHistogram } from './hot-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** The same observations into prom-client's metrics and the hot ones, each in its own registry. */
function pair() {
  const prom = new Registry();
  const hot = new Registry();
  const labelNames = ['route', 'status'] as const;
  const spec = { name: 'x_requests_total', help: 'Requests.', labelNames };
  const hist = { name: 'x_duration_seconds', help: 'Duration.', labelNames, buckets: BUCKETS };
  const m = {
    promCounter: new Counter({ ...spec, labelNames: [...labelNames], registers: [prom] }),
    hotCounter: new HotCounter({ ...spec, registers: [hot] }),
    promHist: new Histogram({ ...hist, labelNames: [...labelNames], registers: [prom] }),
    hotHist: new HotHistogram({ ...hist, registers: [hot] }),
  };
  const record = (labels: { route: string; status: string | number }, v: number) => {
    m.promCounter.inc({ route: labels.route, status: String(labels.status) });
    m.hotCounter.inc(labels);
    m.promHist.observe({ route: labels.route, status: String(labels.status) }, v);
    m.hotHist.observe(labels, v);
  };
  return { prom, hot, record, ...m };
}

describe('hot-path metrics', () => {
  it('expose exactly what prom-client exposes for the same observations', async () => {
    const { prom, hot, record } = pair();
    const seen: [string, string | number, number][] = [
      ['/a', 200, 0.0004],
      ['/a', '200', 0.001], // on a bound: counts in that bucket (le is inclusive)
      ['/a', 500, 0.05],
      ['/b "quoted"\\', 200, 3], // above every bound: only +Inf; label escaping
      ['/a', 200, 0.2],
    ];
    for (const [route, status, v] of seen) record({ route, status }, v);
    expect(await hot.metrics()).toBe(await prom.metrics());
    // The JSON form (what cluster workers send) carries the same samples; prom-client adds
    // empty exemplar fields.
    const samples = async (r: Registry) =>
      (await r.getMetricsAsJSON()).map((m) => ({
        ...m,
        values: m.values.map((v) => ({
          labels: v.labels,
          value: v.value,
          metricName: (v as { metricName?: string }).metricName,
        })),
      }));
    expect(await samples(hot)).toEqual(await samples(prom));
  });

  it('numbers and their strings are one series', () => {
    const { hotCounter } = pair();
    hotCounter.inc({ route: '/a', status: 200 });
    hotCounter.inc({ route: '/a', status: '200' }, 2);
    expect(hotCounter.get().values).toEqual([{ labels: { route: '/a', status: '200' }, value: 3 }]);
  });

  it('aggregate across cluster workers like prom-client metrics', async () => {
    const a = pair();
    const b = pair();
    a.record({ route: '/a', status: 200 }, 0.005);
    b.record({ route: '/a', status: 200 }, 0.5);
    b.record({ route: '/c', status: 404 }, 0.0001);
    const aggregated = async (side: 'prom' | 'hot') =>
      (
        await AggregatorRegistry.aggregate([
          await a[side].getMetricsAsJSON(),
          await b[side].getMetricsAsJSON(),
        ]).metrics()
      ).trim();
    const promText = await aggregated('prom');
    const hotText = await aggregated('hot');
    expect(hotText).toBe(promText);
    expect(hotText).toContain('x_requests_total{route="/a",status="200"} 2');
  });

  it('refuse what Prometheus cannot represent, and reset with the registry', async () => {
    const { hot, hotCounter, hotHist } = pair();
    expect(() => hotCounter.inc({ route: '/a', status: 200 }, -1)).toThrow(RangeError);
    expect(() => hotHist.observe({ route: '/a', status: 200 }, Number.NaN)).toThrow(RangeError);
    expect(
      () =>
        new HotHistogram({ name: 'y', help: 'y', labelNames: ['le'], buckets: [1], registers: [] }),
    ).toThrow(/reserved/);
    expect(
      () =>
        new HotCounter({ name: 'x_requests_total', help: '', labelNames: [], registers: [hot] }),
    ).toThrow(/already been registered/);
    hotCounter.inc({ route: '/a', status: 200 });
    hot.resetMetrics();
    expect(hotCounter.get().values).toEqual([]);
  });

  it('a metric without labels has one series', () => {
    const r = new Registry();
    const c = new HotCounter({ name: 'z_total', help: 'z', labelNames: [], registers: [r] });
    c.inc({});
    c.inc({}, 4);
    expect(c.get().values).toEqual([{ labels: {}, value: 5 }]);
  });

  it('a bounded label keeps its first values and records the rest as other, in every metric sharing it', () => {
    const r = new Registry();
    const model = new BoundedLabel(2);
    const labelNames = ['model', 'status'] as const;
    const count = new HotCounter({
      name: 'b_total',
      help: 'b',
      labelNames,
      registers: [r],
      bounded: { model },
    });
    const hist = new HotHistogram({
      name: 'b_seconds',
      help: 'b',
      labelNames,
      buckets: [1],
      registers: [r],
      bounded: { model },
    });
    for (const m of ['m1', 'm2', 'm3', 'm4', 'm1', 'm5']) {
      count.inc({ model: m, status: 200 });
      hist.observe({ model: m, status: 200 }, 0.5);
    }
    // status is not bounded: the code alone chooses it.
    for (let s = 0; s < 5; s++) count.inc({ model: 'm2', status: 500 + s });
    const byModel = (values: { labels: Record<string, string | number>; value: number }[]) =>
      values.filter((v) => v.labels.status === '200').map((v) => [v.labels.model, v.value]);
    expect(byModel(count.get().values)).toEqual([
      ['m1', 2],
      ['m2', 1],
      ['other', 3],
    ]);
    const counts = hist.get().values.filter((v) => v.metricName === 'b_seconds_count');
    expect(counts.map((v) => [v.labels.model, v.value])).toEqual([
      ['m1', 2],
      ['m2', 1],
      ['other', 3],
    ]);
    expect(count.get().values).toHaveLength(3 + 5);
    expect(() => new BoundedLabel(0)).toThrow(RangeError);
  });
});
