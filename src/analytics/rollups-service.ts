// The door of the usage rollups, KPIs and billing export (docs/billing.md, "Rollups, KPIs and
// export"; decision 022): what app.ts, the worker and the `rampart billing` commands use.
import type { Logger } from 'pino';
import { appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { JobHandler } from '../platform/queue/queue.js';
import {
  csvRows,
  digestOf,
  stripeEvents,
  CSV_HEADER,
  type Period,
  type StripeMeterEvent,
} from './export-format.js';
import {
  earlierExports,
  pendingInRange,
  periodLines,
  putStripeCustomer,
  recordExport,
  stripeCustomer,
} from './export-store.js';
import { kpiRoutes } from './kpis-routes.js';
import { ROLLUP_JOB, RollupScheduler, rollupJobHandler, rollUpTenant } from './rollups-job.js';
import { usageTenants } from './rollups-store.js';

export { ROLLUP_JOB, RollupScheduler, rollUpTenant } from './rollups-job.js';
export { reconcileTenant, type Mismatch, type Reconciliation } from './rollups-reconcile.js';
export { parsePeriod, type Period, type StripeMeterEvent } from './export-format.js';

export interface UsageAnalytics {
  routes: AnyRoute[];
  /** The rollup job a worker registers (in `serve` itself with the embedded database). */
  jobs: Record<string, JobHandler>;
}

/** Builds the KPI routes and the rollup job. */
export function createUsageAnalytics(deps: { db: Database }): UsageAnalytics {
  return {
    routes: kpiRoutes(deps.db),
    jobs: { [ROLLUP_JOB]: rollupJobHandler(deps.db) },
  };
}

/** The scheduler a worker process runs beside its queue (see RollupScheduler). */
export function createRollupScheduler(
  db: Database,
  intervalMs: number,
  logger?: Logger,
): RollupScheduler {
  return new RollupScheduler(db, intervalMs, logger);
}

/** Every tenant with usage or rollups (operator commands). */
export function tenantsWithUsage(db: Database): Promise<{ id: string; slug: string }[]> {
  return db.withOperator((tx) => usageTenants(tx));
}

/** Sets the Stripe customer a tenant is billed as (operator; audited in the tenant's log). */
export async function setStripeCustomer(
  db: Database,
  tenantId: string,
  customerId: string,
): Promise<void> {
  await db.withTenant({ tenantId, groups: [] }, async (tx) => {
    await putStripeCustomer(tx, customerId);
    await appendAuditEvent(tx, {
      actor: { type: 'operator', id: null },
      action: 'billing_customer.updated',
      target: { type: 'tenant', id: tenantId },
      outcome: 'success',
      details: { stripeCustomerId: customerId },
    });
  });
}

/** One tenant's part of an export. */
export interface TenantExport {
  tenant: { id: string; slug: string };
  /** JSON lines (stripe) or CSV rows (csv), without the CSV header. */
  lines: string[];
  events: StripeMeterEvent[] | undefined;
  digest: string;
  /** Earlier exports of this period and format that wrote something else (late ledger rows). */
  changedSince: Date[];
}

/** Why a tenant cannot be exported. */
export class ExportRefused extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
    this.name = 'ExportRefused';
  }
}

/**
 * Builds one tenant's part of a period's export from the rollups and records it. The tenant's
 * rollups are brought up to date first (the job's own exactly-once step); ledger rows of the
 * period still in flight refuse the export (exit 1: try again), as does a tenant without a Stripe
 * customer for the stripe format (exit 2). The same rollups give the same lines, identifiers and
 * digest every time; the record keeps each export's digest, and a digest that differs from an
 * earlier one is reported (the period's ledger changed after it was exported).
 */
export async function exportTenantPeriod(
  db: Database,
  tenant: { id: string; slug: string },
  period: Period,
  format: 'stripe' | 'csv',
): Promise<TenantExport> {
  await rollUpTenant(db, tenant.id);
  return db.withTenant({ tenantId: tenant.id, groups: [] }, async (tx) => {
    const pending = await pendingInRange(tx, period.from, period.to);
    if (pending > 0)
      throw new ExportRefused(
        `tenant ${tenant.slug}: ${pending} ledger rows of ${period.name} are not rolled up yet (a transaction still open); try again`,
        1,
      );
    const lines = await periodLines(tx, period.from, period.to);
    let out: string[];
    let events: StripeMeterEvent[] | undefined;
    if (format === 'stripe') {
      const customer = await stripeCustomer(tx);
      if (!customer)
        throw new ExportRefused(
          `tenant ${tenant.slug} has no Stripe customer: set one with \`rampart billing customer --tenant ${tenant.slug} --stripe-customer cus_…\``,
          2,
        );
      events = stripeEvents(tenant.id, customer, period, lines);
      out = events.map((e) => JSON.stringify(e));
    } else out = csvRows(tenant, period, lines);
    const digest = digestOf(out);
    const earlier = await earlierExports(tx, period.name, format);
    await recordExport(tx, { period: period.name, format, events: out.length, digest });
    await appendAuditEvent(tx, {
      actor: { type: 'operator', id: null },
      action: 'billing.exported',
      target: { type: 'billing_period', id: period.name },
      outcome: 'success',
      details: { format, events: out.length, digest },
    });
    return {
      tenant,
      lines: out,
      events,
      digest,
      changedSince: earlier.filter((e) => e.digest !== digest).map((e) => e.createdAt),
    };
  });
}

/** The file an export writes: JSON lines for stripe, CSV with its header for csv. */
export function exportFile(format: 'stripe' | 'csv', parts: readonly TenantExport[]): string {
  const lines = parts.flatMap((p) => p.lines);
  const all = format === 'csv' ? [CSV_HEADER.join(','), ...lines] : lines;
  return all.length === 0 ? '' : `${all.join('\n')}\n`;
}
