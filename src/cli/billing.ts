// `rampart billing reconcile | export | customer` (docs/billing.md, "Rollups, KPIs and export").
// The operator's path into tenants' data: whoever runs this CLI with the database settings is
// the operator. Tenants are named through the narrow SECURITY DEFINER functions (identifiers
// only); each tenant's data is then read inside withTenant, under RLS.
import { writeFileSync } from 'node:fs';
import type { Config } from '../config.js';
import {
  ExportRefused,
  exportFile,
  exportTenantPeriod,
  parsePeriod,
  reconcileTenant,
  setStripeCustomer,
  tenantsWithUsage,
  type TenantExport,
} from '../analytics/rollups-service.js';
import { findTenantBySlug } from '../identity/index.js';
import type { Database } from '../platform/db/database.js';
import { createRuntime } from '../runtime.js';

/** Where a command writes and what it needs besides the database. */
export interface BillingIo {
  db: Database;
  serverSecret: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Now, for "has this period ended" (tests pass a fixed clock). */
  now?: () => Date;
}

type Tenant = { id: string; slug: string };

/** The tenants a command covers: the one named, or every tenant with usage. undefined: unknown slug. */
async function tenantsOf(io: BillingIo, slug: string | undefined): Promise<Tenant[] | undefined> {
  if (slug === undefined) return tenantsWithUsage(io.db);
  const t = await findTenantBySlug(io.db, io.serverSecret, slug);
  return t ? [{ id: t.id, slug: t.slug }] : undefined;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export interface ReconcileOptions {
  tenant?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

/**
 * Compares each tenant's rollups with its ledger. Exit code: 0 every group matches, 1 a group
 * differs, 2 usage error or unknown tenant.
 */
export async function reconcile(io: BillingIo, opts: ReconcileOptions): Promise<number> {
  for (const [name, v] of [
    ['--from', opts.from],
    ['--to', opts.to],
  ] as const)
    if (v !== undefined && (!DAY.test(v) || Number.isNaN(Date.parse(v)))) {
      io.err(`rampart: ${name} must be a day, YYYY-MM-DD, not '${v}'`);
      return 2;
    }
  if (opts.from && opts.to && opts.from >= opts.to) {
    io.err('rampart: --from must be before --to (--to is exclusive)');
    return 2;
  }
  const tenants = await tenantsOf(io, opts.tenant);
  if (!tenants) {
    io.err(`rampart: no tenant with slug '${opts.tenant ?? ''}'`);
    return 2;
  }
  let code = 0;
  for (const t of tenants) {
    const r = await reconcileTenant(io.db, t.id, opts.from, opts.to);
    const pending = r.pending > 0 ? `; ${r.pending} ledger rows not rolled up yet` : '';
    if (r.mismatches.length === 0) {
      io.out(`usage rollups of ${t.slug}: OK, ${r.groups} groups equal the ledger${pending}`);
      continue;
    }
    code = 1;
    io.out(
      `usage rollups of ${t.slug}: MISMATCH in ${r.mismatches.length} of ${r.groups} groups${pending}`,
    );
    for (const m of r.mismatches)
      io.out(`  ${m.group}: ledger ${JSON.stringify(m.ledger)} rollup ${JSON.stringify(m.rollup)}`);
  }
  if (tenants.length === 0) io.out('no tenant has usage');
  return code;
}

export interface ExportOptions {
  period: string;
  tenant?: string | undefined;
  format: string;
  out: string;
}

/**
 * Writes a period's usage as Stripe meter events (JSON lines) or CSV. Exit code: 0 written,
 * 1 written but the values differ from an earlier export of the period (late ledger rows), or
 * not written because ledger rows of the period are still in flight; 2 usage error, unknown
 * tenant, a period not yet over, or a tenant without a Stripe customer (nothing written).
 */
export async function exportUsage(io: BillingIo, opts: ExportOptions): Promise<number> {
  const period = parsePeriod(opts.period);
  if (!period) {
    io.err(`rampart: --period must be a month, YYYY-MM, not '${opts.period}'`);
    return 2;
  }
  if (opts.format !== 'stripe' && opts.format !== 'csv') {
    io.err(`rampart: --format must be stripe or csv, not '${opts.format}'`);
    return 2;
  }
  const format = opts.format;
  const now = io.now?.() ?? new Date();
  // An open period's numbers still grow, and Stripe keeps the first value it gets for an
  // identifier: only a period that has ended is exported.
  if (now.getTime() < Date.parse(period.to)) {
    io.err(`rampart: ${period.name} is not over yet (it ends ${period.to}T00:00:00Z)`);
    return 2;
  }
  const tenants = await tenantsOf(io, opts.tenant);
  if (!tenants) {
    io.err(`rampart: no tenant with slug '${opts.tenant ?? ''}'`);
    return 2;
  }
  const parts: TenantExport[] = [];
  try {
    for (const t of tenants) parts.push(await exportTenantPeriod(io.db, t, period, format));
  } catch (err) {
    if (!(err instanceof ExportRefused)) throw err;
    io.err(`rampart: ${err.message}; nothing written`);
    return err.exitCode;
  }
  writeFileSync(opts.out, exportFile(format, parts));
  let code = 0;
  for (const p of parts) {
    io.out(
      `${p.tenant.slug} ${period.name}: ${p.lines.length} ${format === 'stripe' ? 'meter events' : 'rows'}, sha256 ${p.digest}`,
    );
    if (p.changedSince.length > 0) {
      code = 1;
      io.err(
        `rampart: ${p.tenant.slug} ${period.name}: the values differ from the export of ${p.changedSince.map((d) => d.toISOString()).join(', ')} (ledger rows arrived after it); the payment system keeps what it received first for the same identifiers`,
      );
    }
  }
  io.out(`wrote ${opts.out}`);
  return code;
}

/** Sets a tenant's Stripe customer. Exit code: 0 set, 2 usage error or unknown tenant. */
export async function setCustomer(
  io: BillingIo,
  opts: { tenant: string; stripeCustomer: string },
): Promise<number> {
  if (!/^cus_[A-Za-z0-9]{1,250}$/.test(opts.stripeCustomer)) {
    io.err(`rampart: --stripe-customer must be a Stripe customer id (cus_…)`);
    return 2;
  }
  const tenants = await tenantsOf(io, opts.tenant);
  const t = tenants?.[0];
  if (!t) {
    io.err(`rampart: no tenant with slug '${opts.tenant}'`);
    return 2;
  }
  await setStripeCustomer(io.db, t.id, opts.stripeCustomer);
  io.out(`${t.slug} is billed as Stripe customer ${opts.stripeCustomer}`);
  return 0;
}

/** Runs one billing command against the configured database and sets the exit code. */
export async function billingCli(
  config: () => Config,
  run: (io: BillingIo) => Promise<number>,
): Promise<void> {
  const rt = await createRuntime(config());
  try {
    process.exitCode = await run({
      db: rt.db,
      serverSecret: rt.serverSecret,
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (err) {
    process.stderr.write(`rampart: billing command could not run: ${(err as Error).message}\n`);
    process.exitCode = 3;
  } finally {
    await rt.close();
  }
}
