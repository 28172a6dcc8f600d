import { Counter, Histogram, type Registry } from 'prom-client';

/** Text-to-SQL metrics: queries by outcome and refusal code, duration, rows returned. */
export interface SqlMetrics {
  queries: Counter<'outcome' | 'code'>;
  duration: Histogram<'outcome'>;
  rows: Histogram;
}

/** Idempotent per registry (several apps in one process may share a registry). */
export function sqlMetrics(registry: Registry): SqlMetrics {
  const existing = (name: string): unknown => registry.getSingleMetric(name);
  const queries = existing('rampart_sql_queries_total');
  const duration = existing('rampart_sql_query_duration_seconds');
  const rows = existing('rampart_sql_query_rows');
  return {
    queries:
      queries instanceof Counter
        ? queries
        : new Counter({
            name: 'rampart_sql_queries_total',
            help: 'Text-to-SQL queries by outcome (ok, refused, failed, timeout, unavailable) and refusal or error code.',
            labelNames: ['outcome', 'code'],
            registers: [registry],
          }),
    duration:
      duration instanceof Histogram
        ? duration
        : new Histogram({
            name: 'rampart_sql_query_duration_seconds',
            help: 'Text-to-SQL query time (validate + execute) by outcome.',
            labelNames: ['outcome'],
            buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
            registers: [registry],
          }),
    rows:
      rows instanceof Histogram
        ? rows
        : new Histogram({
            name: 'rampart_sql_query_rows',
            help: 'Rows returned per text-to-SQL query.',
            buckets: [0, 1, 10, 100, 1000, 10000],
            registers: [registry],
          }),
  };
}
