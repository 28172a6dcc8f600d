import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * Metrics of a `rampart serve` cluster (RAMPART_WORKERS > 1). A scrape lands on one worker, which
 * asks the primary over IPC; the primary asks every serving worker for its registry as JSON and
 * answers with prom-client's aggregation of them (each metric's `aggregator`, sum by default).
 * prom-client's own `clusterMetrics()` is not used: it asks every connected worker, including one
 * still starting that cannot answer yet, so a scrape during a replacement would time out.
 */

/** One registry as `getMetricsAsJSON()` gives it: what travels over IPC. */
type Snapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

type MetricsMessage =
  | { type: 'rampart:metrics:scrape'; id: number }
  | { type: 'rampart:metrics:collect'; id: number }
  | { type: 'rampart:metrics:snapshot'; id: number; metrics?: Snapshot; error?: string }
  | { type: 'rampart:metrics:result'; id: number; text?: string; error?: string };

function asMetricsMessage(message: unknown): MetricsMessage | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { type, id } = message as { type?: unknown; id?: unknown };
  if (typeof type !== 'string' || !type.startsWith('rampart:metrics:')) return undefined;
  return typeof id === 'number' ? (message as MetricsMessage) : undefined;
}

/** The IPC channel a worker has to its primary (`process` in a cluster worker). */
export interface PrimaryChannel {
  /** Absent when the process has no IPC channel (as on `process`). */
  send?(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** A worker as the primary sees it (a cluster `Worker`). */
export interface MetricsPeer {
  readonly id: number;
  send(message: unknown): unknown;
}

/** A worker's side: answers the primary's collections and asks it for the group's metrics. */
export class WorkerMetricsChannel {
  private next = 0;
  private readonly waiting = new Map<number, (m: { text?: string; error?: string }) => void>();
  private readonly listener = (message: unknown): void => {
    const m = asMetricsMessage(message);
    if (m?.type === 'rampart:metrics:collect') {
      this.registry.getMetricsAsJSON().then(
        (metrics) => this.channel.send?.({ type: 'rampart:metrics:snapshot', id: m.id, metrics }),
        (err: unknown) =>
          this.channel.send?.({
            type: 'rampart:metrics:snapshot',
            id: m.id,
            error: (err as Error).message,
          }),
      );
    } else if (m?.type === 'rampart:metrics:result') {
      this.waiting.get(m.id)?.(m);
    }
  };

  constructor(
    private readonly registry: Registry,
    private readonly channel: PrimaryChannel,
    private readonly timeoutMs = 5000,
  ) {
    channel.on('message', this.listener);
  }

  /** The whole group's metrics in the Prometheus text format; rejects when the primary cannot answer. */
  scrape(): Promise<string> {
    const id = this.next++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the cluster primary did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (m.text !== undefined) resolve(m.text);
        else reject(new Error(m.error ?? 'the cluster primary sent no metrics'));
      });
      if (!this.channel.send) return this.waiting.get(id)?.({ error: 'no IPC channel' });
      this.channel.send({ type: 'rampart:metrics:scrape', id });
    });
  }

  close(): void {
    this.channel.off('message', this.listener);
  }
}

interface Collection {
  /** Workers whose snapshot has not arrived yet. */
  awaiting: Set<number>;
  snapshots: Snapshot[];
  finish(error?: Error): void;
}

/** The primary's side: collects every serving worker's registry and aggregates them. */
export class PrimaryMetricsAggregator {
  private next = 0;
  private readonly collections = new Map<number, Collection>();

  /** `serving` lists the workers that have started serving (only they answer collections). */
  constructor(
    private readonly serving: () => Iterable<MetricsPeer>,
    private readonly timeoutMs = 4000,
  ) {}

  /** Handles a message from a worker; messages that are not about metrics are ignored. */
  onMessage(from: MetricsPeer, message: unknown): void {
    const m = asMetricsMessage(message);
    if (m?.type === 'rampart:metrics:scrape') {
      this.collect().then(
        (text) => from.send({ type: 'rampart:metrics:result', id: m.id, text }),
        (err: unknown) =>
          from.send({ type: 'rampart:metrics:result', id: m.id, error: (err as Error).message }),
      );
    } else if (m?.type === 'rampart:metrics:snapshot') {
      const c = this.collections.get(m.id);
      if (!c?.awaiting.delete(from.id)) return;
      if (m.metrics) c.snapshots.push(m.metrics);
      else return c.finish(new Error(`worker ${from.id} could not read its metrics: ${m.error}`));
      if (c.awaiting.size === 0) c.finish();
    }
  }

  /**
   * A worker has exited: collections stop waiting for it. Its counters went with it, so the
   * group's totals drop (see docs/operations.md on what Prometheus makes of that).
   */
  peerGone(peerId: number): void {
    for (const c of this.collections.values())
      if (c.awaiting.delete(peerId) && c.awaiting.size === 0) c.finish();
  }

  /** Every serving worker's metrics, aggregated, in the Prometheus text format. */
  collect(): Promise<string> {
    const id = this.next++;
    const peers = [...this.serving()];
    return new Promise<string>((resolve, reject) => {
      // A worker that does not answer fails the scrape rather than leaving its counts out: a
      // total that dips and recovers reads to Prometheus as a counter reset, inflating rate().
      let timer: NodeJS.Timeout | undefined;
      const c: Collection = {
        awaiting: new Set(peers.map((p) => p.id)),
        snapshots: [],
        finish: (error) => {
          if (!this.collections.delete(id)) return;
          clearTimeout(timer);
          if (error) return reject(error);
          AggregatorRegistry.aggregate(c.snapshots).metrics().then(resolve, reject);
        },
      };
      timer = setTimeout(
        () =>
          c.finish(
            new Error(`no metrics from ${c.awaiting.size} worker(s) within ${this.timeoutMs} ms`),
          ),
        this.timeoutMs,
      );
      this.collections.set(id, c);
      if (peers.length === 0) return c.finish();
      for (const p of peers) p.send({ type: 'rampart:metrics:collect', id });
    });
  }
}
