import { Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  PrimaryMetricsAggregator,
  WorkerMetricsChannel,
  type MetricsPeer,
  type PrimaryChannel,
} from './cluster-metrics.js';

type Listener = (message: unknown) => void;

/** A worker process in memory: its registry, its side of the IPC pipe, and the primary's view of it. */
interface FakeWorker {
  registry: Registry;
  requests: Counter;
  channel: WorkerMetricsChannel;
  peer: MetricsPeer;
  /** While true, the worker reads the primary's messages but never answers (a hung process). */
  mute: boolean;
}

/** A primary and n workers wired through asynchronous in-memory "IPC" (structured-cloned, as the real one). */
function group(n: number, timeoutMs = 500) {
  const workers: FakeWorker[] = [];
  const primary = new PrimaryMetricsAggregator(() => workers.map((w) => w.peer), timeoutMs);
  for (let id = 1; id <= n; id++) {
    const registry = new Registry();
    const listeners = new Set<Listener>();
    const worker = { registry, mute: false } as FakeWorker;
    const toPrimary: PrimaryChannel = {
      send: (m) => {
        if (!worker.mute) setImmediate(() => primary.onMessage(worker.peer, structuredClone(m)));
      },
      on: (_e, l) => listeners.add(l),
      off: (_e, l) => listeners.delete(l),
    };
    worker.peer = {
      id,
      send: (m) => setImmediate(() => listeners.forEach((l) => l(structuredClone(m)))),
    };
    worker.requests = new Counter({
      name: 'requests_total',
      help: 'requests',
      labelNames: ['route'],
      registers: [registry],
    });
    // Read from a shared source by every worker: the group reports it once.
    new Gauge({
      name: 'queue_depth',
      help: 'shared',
      registers: [registry],
      aggregator: 'max',
      collect() {
        this.set(7);
      },
    });
    worker.channel = new WorkerMetricsChannel(registry, toPrimary, timeoutMs * 2);
    workers.push(worker);
  }
  return { primary, workers };
}

describe('cluster metrics over IPC', () => {
  it("a scrape on any worker reports the group: counters summed, a shared gauge's own aggregator", async () => {
    const { workers } = group(3);
    workers[0]?.requests.inc({ route: '/a' }, 2);
    workers[1]?.requests.inc({ route: '/a' }, 3);
    workers[2]?.requests.inc({ route: '/b' });
    for (const w of workers) {
      const text = await w.channel.scrape();
      expect(text).toMatch(/^requests_total\{route="\/a"\} 5$/m);
      expect(text).toMatch(/^requests_total\{route="\/b"\} 1$/m);
      expect(text).toMatch(/^queue_depth 7$/m);
    }
  });

  it('a worker that does not answer fails the scrape instead of leaving its counts out', async () => {
    const { workers } = group(2, 100);
    (workers[1] as FakeWorker).mute = true;
    await expect(workers[0]?.channel.scrape()).rejects.toThrow(
      /no metrics from 1 worker\(s\) within 100 ms/,
    );
  });

  it('a worker that exits during a collection is no longer waited for', async () => {
    const { primary, workers } = group(2, 5_000);
    const [alive, dying] = workers as [FakeWorker, FakeWorker];
    alive.requests.inc({ route: '/a' }, 4);
    dying.requests.inc({ route: '/a' }, 9);
    dying.mute = true;
    const text = primary.collect();
    primary.peerGone(dying.peer.id);
    expect(await text).toMatch(/^requests_total\{route="\/a"\} 4$/m);
  });

  it('with no serving worker the primary answers with no metrics', async () => {
    expect((await new PrimaryMetricsAggregator(() => []).collect()).trim()).toBe('');
  });

  it('a worker without an IPC channel says so instead of waiting', async () => {
    const channel = new WorkerMetricsChannel(new Registry(), {
      on: () => undefined,
      off: () => undefined,
    });
    await expect(channel.scrape()).rejects.toThrow(/no IPC channel/);
  });
});
