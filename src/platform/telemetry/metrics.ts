import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { HotHistogram } from './hot-metrics.js';
import type { PoolStats } from '../db/types.js';
import type { Redis } from '../kv/redis.js';

/** The process's Prometheus registry and the metrics every request touches. One per app, so tests can build several. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: HotHistogram<'route' | 'method' | 'status_code'>;
  readonly authFailures: Counter<'reason'>;

  constructor(opts: {
    poolStats: () => PoolStats;
    defaultMetrics?: boolean;
    /** The shared Redis client, when REDIS_URL is set: its connection state is exported. */
    redis?: Redis | undefined;
  }) {
    if (opts.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'rampart_' });
    this.httpDuration = new HotHistogram({
      name: 'rampart_http_request_duration_seconds',
      help: 'HTTP request duration by route template, method and status.',
      labelNames: ['route', 'method', 'status_code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.authFailures = new Counter({
      name: 'rampart_auth_failures_total',
      help: 'Rejected credentials (401) and permissions (403) by reason.',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    const stats = opts.poolStats;
    const gauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(pick(stats()));
        },
      });
    gauge('rampart_db_pool_connections', 'Open database connections in the pool.', (s) => s.total);
    gauge(
      'rampart_db_pool_idle_connections',
      'Idle database connections in the pool.',
      (s) => s.idle,
    );
    gauge(
      'rampart_db_pool_waiting_requests',
      'Queries waiting for a pooled connection.',
      (s) => s.waiting,
    );
    if (opts.redis) watchRedis(this.registry, opts.redis);
  }
}

/**
 * Redis health as Prometheus sees it: whether the client is connected now, and how many
 * connection errors it has seen. Limits, locks and the event bus degrade without Redis (see
 * docs/runbooks/redis-loss.md), so its loss is an alert, not only a log line.
 */
function watchRedis(registry: Registry, redis: Redis): void {
  new Gauge({
    name: 'rampart_redis_connected',
    help: 'Whether the Redis client is connected and ready (1) or not (0).',
    registers: [registry],
    collect() {
      this.set(redis.status === 'ready' ? 1 : 0);
    },
  });
  const errors = new Counter({
    name: 'rampart_redis_errors_total',
    help: 'Redis connection errors seen by the client (each failed connect or dropped socket).',
    registers: [registry],
  });
  redis.on('error', () => errors.inc());
}
