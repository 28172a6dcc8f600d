import { Counter, type Registry } from 'prom-client';

/** Retention and offboarding metrics. Idempotent per registry (API and in-process worker share one). */
export interface GovernanceMetrics {
  retentionDeleted: Counter<'class'>;
  sweeps: Counter<'outcome'>;
  auditPruneRefused: Counter;
  purgeDeleted: Counter<'store'>;
  purges: Counter<'outcome'>;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function governanceMetrics(registry: Registry): GovernanceMetrics {
  const registers = [registry];
  return {
    retentionDeleted: metric(
      registry,
      'rampart_retention_deleted_rows_total',
      () =>
        new Counter({
          name: 'rampart_retention_deleted_rows_total',
          help: 'Rows deleted by retention sweeps, by data class (audit: events pruned behind a signed checkpoint).',
          labelNames: ['class'],
          registers,
        }),
    ),
    sweeps: metric(
      registry,
      'rampart_retention_sweeps_total',
      () =>
        new Counter({
          name: 'rampart_retention_sweeps_total',
          help: 'Retention sweeps finished, by outcome (completed, failed).',
          labelNames: ['outcome'],
          registers,
        }),
    ),
    auditPruneRefused: metric(
      registry,
      'rampart_audit_prune_refused_total',
      () =>
        new Counter({
          name: 'rampart_audit_prune_refused_total',
          help: 'Audit pruning refused because the events to prune (or the checkpoint) do not verify: a chain was tampered with.',
          registers,
        }),
    ),
    purgeDeleted: metric(
      registry,
      'rampart_tenant_purge_deleted_total',
      () =>
        new Counter({
          name: 'rampart_tenant_purge_deleted_total',
          help: 'Rows (store=postgres) and keys (store=redis) deleted by tenant purges.',
          labelNames: ['store'],
          registers,
        }),
    ),
    purges: metric(
      registry,
      'rampart_tenant_purges_total',
      () =>
        new Counter({
          name: 'rampart_tenant_purges_total',
          help: 'Tenant purges, by outcome (completed, failed).',
          labelNames: ['outcome'],
          registers,
        }),
    ),
  };
}
