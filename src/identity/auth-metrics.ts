import { Counter, Gauge, type Registry } from 'prom-client';

/** Where a rejection was decided: from this process's memory, or after a database lookup. */
export type AnsweredFrom = 'memory' | 'database';
export type ThrottleScope = 'address' | 'key_prefix';

/** Metrics of the unauthenticated path: what is refused, how cheaply, and what the audit absorbs. */
export interface AuthMetrics {
  rejections: Counter<'reason' | 'answered_from'>;
  throttled: Counter<'scope'>;
  auditBatches: Counter;
  auditEvents: Counter;
  auditFailures: Counter;
}

/** Registers the metrics on `registry`; `throttledSources` is read at scrape time. */
export function authMetrics(
  registry: Registry,
  throttledSources: () => Record<ThrottleScope, number>,
): AuthMetrics {
  new Gauge({
    name: 'rampart_auth_throttled_sources',
    help: 'Client addresses and key prefixes answered 429 for authentication failures in the current minute.',
    labelNames: ['scope'],
    registers: [registry],
    collect() {
      for (const [scope, n] of Object.entries(throttledSources())) this.set({ scope }, n);
    },
  });
  return {
    rejections: new Counter({
      name: 'rampart_auth_rejections_total',
      help: 'Refused authentications by reason (throttled = 429), and whether memory or the database decided.',
      labelNames: ['reason', 'answered_from'],
      registers: [registry],
    }),
    throttled: new Counter({
      name: 'rampart_auth_throttled_total',
      help: 'Requests answered 429 because their address or key prefix failed authentication too often.',
      labelNames: ['scope'],
      registers: [registry],
    }),
    auditBatches: new Counter({
      name: 'rampart_auth_failure_audit_batches_total',
      help: 'Batches of aggregated authentication-failure audit events appended.',
      registers: [registry],
    }),
    auditEvents: new Counter({
      name: 'rampart_auth_failure_audit_events_total',
      help: 'Aggregated authentication-failure audit events appended (one per source, reason and minute per batch).',
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: 'rampart_auth_failure_audit_failures_total',
      help: 'Authentication failures counted into those audit events.',
      registers: [registry],
    }),
  };
}
