import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Database } from '../platform/db/database.js';
import { copilotCounts } from './runs-store.js';

/**
 * The copilot's metrics. Idempotent per registry: the API and an in-process worker (embedded
 * mode) share one registry and must share the same series.
 */
export interface CopilotMetrics {
  /** Runs reaching a status (created → queued; then the terminal ones). */
  runs: Counter<'status'>;
  steps: Histogram;
  toolCalls: Counter<'tool' | 'outcome'>;
  toolLatency: Histogram<'tool'>;
  approvalDecision: Histogram<'decision'>;
  compensations: Counter<'outcome'>;
  realtime: RealtimeMetrics;
}

/** The realtime WebSocket endpoint's metrics (per process: connections are local). */
export interface RealtimeMetrics {
  connections: Gauge;
  droppedDeltas: Counter;
  sendErrors: Counter;
  slowClosed: Counter;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  // prom-client returns the registered metric of that name: the same object this module made.
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function copilotMetrics(registry: Registry): CopilotMetrics {
  const registers = [registry];
  return {
    runs: metric(
      registry,
      'rampart_copilot_runs_total',
      () =>
        new Counter({
          name: 'rampart_copilot_runs_total',
          help: 'Copilot runs by the status they reached (queued when created, then succeeded/failed/cancelled).',
          labelNames: ['status'],
          registers,
        }),
    ),
    steps: metric(
      registry,
      'rampart_copilot_run_steps',
      () =>
        new Histogram({
          name: 'rampart_copilot_run_steps',
          help: 'Model steps per finished copilot run.',
          buckets: [1, 2, 3, 5, 8, 12, 20, 50],
          registers,
        }),
    ),
    toolCalls: metric(
      registry,
      'rampart_copilot_tool_calls_total',
      () =>
        new Counter({
          name: 'rampart_copilot_tool_calls_total',
          help: 'Copilot tool calls by tool and outcome (succeeded, failed, denied, invalid_arguments).',
          labelNames: ['tool', 'outcome'],
          registers,
        }),
    ),
    toolLatency: metric(
      registry,
      'rampart_copilot_tool_duration_seconds',
      () =>
        new Histogram({
          name: 'rampart_copilot_tool_duration_seconds',
          help: 'Latency of copilot tool calls that were made, by tool.',
          labelNames: ['tool'],
          buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    ),
    approvalDecision: metric(
      registry,
      'rampart_copilot_approval_decision_seconds',
      () =>
        new Histogram({
          name: 'rampart_copilot_approval_decision_seconds',
          help: 'Time from an approval request to its decision, by decision.',
          labelNames: ['decision'],
          buckets: [1, 10, 60, 300, 1800, 3600, 14400, 86400],
          registers,
        }),
    ),
    compensations: metric(
      registry,
      'rampart_copilot_compensations_total',
      () =>
        new Counter({
          name: 'rampart_copilot_compensations_total',
          help: 'Saga compensations by outcome; alert on outcome="failed" (a side effect was left in place).',
          labelNames: ['outcome'],
          registers,
        }),
    ),
    realtime: {
      connections: metric(
        registry,
        'rampart_realtime_connections',
        () =>
          new Gauge({
            name: 'rampart_realtime_connections',
            help: 'Open /v1/realtime WebSocket connections on this process.',
            registers,
          }),
      ),
      droppedDeltas: metric(
        registry,
        'rampart_realtime_dropped_deltas_total',
        () =>
          new Counter({
            name: 'rampart_realtime_dropped_deltas_total',
            help: 'Token deltas dropped (oldest first) because a realtime client read too slowly; state events are never dropped.',
            registers,
          }),
      ),
      sendErrors: metric(
        registry,
        'rampart_realtime_send_errors_total',
        () =>
          new Counter({
            name: 'rampart_realtime_send_errors_total',
            help: 'Realtime frames that failed to send (the connection broke under them).',
            registers,
          }),
      ),
      slowClosed: metric(
        registry,
        'rampart_realtime_slow_closed_total',
        () =>
          new Counter({
            name: 'rampart_realtime_slow_closed_total',
            help: 'Realtime connections closed with 1013 because their queue filled with state events.',
            registers,
          }),
      ),
    },
  };
}

/**
 * Approvals pending and runs in progress across tenants, read at scrape time through the
 * SECURITY DEFINER rampart_copilot_counts() (migration 0015): counts only, no tenant data.
 */
export function registerCopilotGauges(registry: Registry, db: Database): void {
  if (registry.getSingleMetric('rampart_copilot_approvals_pending')) return;
  let last: Promise<Map<string, number>> | undefined;
  // Both gauges are collected in one scrape: one query serves them.
  const counts = (): Promise<Map<string, number>> => {
    last ??= db
      .withOperator(copilotCounts)
      .then((rows) => new Map(rows.map((r) => [r.what, Number(r.n)])))
      .finally(() => setTimeout(() => (last = undefined), 100).unref());
    return last;
  };
  new Gauge({
    name: 'rampart_copilot_approvals_pending',
    help: 'Tool calls waiting for a person to approve or deny them, all tenants.',
    registers: [registry],
    aggregator: 'max',
    async collect() {
      this.set((await counts()).get('approvals_pending') ?? 0);
    },
  });
  new Gauge({
    name: 'rampart_copilot_runs_active',
    help: 'Copilot runs not yet finished, by status (queued, running, awaiting_approval), all tenants.',
    labelNames: ['status'],
    registers: [registry],
    aggregator: 'max',
    async collect() {
      const c = await counts();
      for (const status of ['queued', 'running', 'awaiting_approval'])
        this.set({ status }, c.get(`runs_${status}`) ?? 0);
    },
  });
}
