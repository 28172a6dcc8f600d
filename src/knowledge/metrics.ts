import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Database } from '../platform/db/database.js';
import { countDocumentsByStatus } from './stats-store.js';

/** What the knowledge hub records: chunks indexed (chunks/s is its rate) and search latency by mode. */
export interface KnowledgeMetrics {
  chunksIndexed: Counter;
  searchDuration: Histogram<'mode'>;
}

/**
 * The knowledge hub's metrics in the given registry. Idempotent per registry: the API and an
 * in-process worker (embedded mode) share one registry and must share the same series.
 */
export function knowledgeMetrics(registry: Registry): KnowledgeMetrics {
  const chunksIndexed =
    (registry.getSingleMetric('rampart_knowledge_chunks_indexed_total') as Counter | undefined) ??
    new Counter({
      name: 'rampart_knowledge_chunks_indexed_total',
      help: 'Chunks indexed (embedded and stored) by ingestion; its rate is chunks per second.',
      registers: [registry],
    });
  const searchDuration =
    (registry.getSingleMetric('rampart_knowledge_search_duration_seconds') as
      Histogram<'mode'> | undefined) ??
    new Histogram({
      name: 'rampart_knowledge_search_duration_seconds',
      help: 'Search latency (POST /v1/search and the retrieval of /v1/ask) by mode.',
      labelNames: ['mode'],
      buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  return { chunksIndexed, searchDuration };
}

/**
 * Documents by status across tenants, read at scrape time through a SECURITY DEFINER count
 * function (migration 0006): counts only, so any replica can report them without tenant access.
 */
export function registerDocumentMetrics(registry: Registry, db: Database): void {
  if (registry.getSingleMetric('rampart_documents')) return;
  new Gauge({
    name: 'rampart_documents',
    help: 'Documents by status (queued, processing, ready, failed), all tenants.',
    labelNames: ['status'],
    registers: [registry],
    // Every worker process of a cluster reads the same table: summing would count it N times.
    aggregator: 'max',
    async collect() {
      const rows = await db.withOperator(countDocumentsByStatus);
      // Every status is reported, 0 included, so a drained state reads as 0 rather than vanishing.
      const counts = new Map(rows.map((r) => [r.status, Number(r.n)]));
      for (const status of ['queued', 'processing', 'ready', 'failed'])
        this.set({ status }, counts.get(status) ?? 0);
    },
  });
}
