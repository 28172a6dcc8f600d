import type { Queryable } from '../platform/db/types.js';
import type { TenantTx } from '../platform/db/database.js';
import type { PlanPrices, PlanQuotas, PlanTerms } from './plans-terms.js';

interface PlanRow {
  id: string;
  name: string;
  version: number;
  quotas: PlanQuotas;
  prices: PlanPrices;
  hard_limit: boolean;
  created_at: Date;
}

const PLAN_COLUMNS = 'id, name, version, quotas, prices, hard_limit, created_at';

function planOf(r: PlanRow): PlanTerms {
  return {
    id: r.id,
    name: r.name,
    version: r.version,
    quotas: r.quotas,
    prices: r.prices,
    hardLimit: r.hard_limit,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

/** Inserts the next version of the plan `name` (1 for a new name); the unique key serialises. */
export async function insertPlanVersion(
  q: Queryable,
  p: { name: string; quotas: PlanQuotas; prices: PlanPrices; hardLimit: boolean },
): Promise<PlanTerms> {
  const { rows } = await q.query<PlanRow>(
    `INSERT INTO billing_plans (name, version, quotas, prices, hard_limit)
     VALUES ($1, (SELECT coalesce(max(version), 0) + 1 FROM billing_plans WHERE name = $1),
             $2::jsonb, $3::jsonb, $4)
     RETURNING ${PLAN_COLUMNS}`,
    [p.name, JSON.stringify(p.quotas), JSON.stringify(p.prices), p.hardLimit],
  );
  const row = rows[0];
  if (!row) throw new Error('plan insert returned no row');
  return planOf(row);
}

/** Every plan's latest version (or every version with `all`), by name. */
export async function listPlans(q: Queryable, all: boolean): Promise<PlanTerms[]> {
  const { rows } = await q.query<PlanRow>(
    all
      ? `SELECT ${PLAN_COLUMNS} FROM billing_plans ORDER BY name, version`
      : `SELECT DISTINCT ON (name) ${PLAN_COLUMNS} FROM billing_plans ORDER BY name, version DESC`,
  );
  return rows.map(planOf);
}

export async function getPlan(q: Queryable, id: string): Promise<PlanTerms | undefined> {
  const { rows } = await q.query<PlanRow>(
    `SELECT ${PLAN_COLUMNS} FROM billing_plans WHERE id = $1`,
    [id],
  );
  return rows[0] ? planOf(rows[0]) : undefined;
}

export async function tenantExists(tx: TenantTx): Promise<boolean> {
  const { rows } = await tx.query(`SELECT 1 FROM tenants WHERE id = $1`, [tx.tenantId]);
  return rows.length > 0;
}

/** Puts the tenant on `planId` from `effectiveFrom` (a later assignment at the same instant wins). */
export async function assignPlan(
  tx: TenantTx,
  planId: string,
  effectiveFrom: Date,
): Promise<{ id: string }> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO tenant_plans (tenant_id, plan_id, effective_from) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, effective_from) DO NOTHING RETURNING id`,
    [tx.tenantId, planId, effectiveFrom],
  );
  return rows[0] ?? { id: '' };
}

export interface Assignment {
  plan: PlanTerms;
  effectiveFrom: Date;
}

/**
 * The tenant's assignments that matter for [from, to): the one in force at `from` and every
 * later one before `to`, oldest first.
 */
export async function assignmentsBetween(
  tx: TenantTx,
  from: Date,
  to: Date,
): Promise<Assignment[]> {
  const { rows } = await tx.query<PlanRow & { effective_from: Date }>(
    `SELECT p.id, p.name, p.version, p.quotas, p.prices, p.hard_limit, p.created_at, a.effective_from
       FROM tenant_plans a JOIN billing_plans p ON p.id = a.plan_id
      WHERE a.tenant_id = $1 AND a.effective_from < $3
        AND a.effective_from >= coalesce(
          (SELECT max(effective_from) FROM tenant_plans WHERE tenant_id = $1 AND effective_from <= $2),
          '-infinity'::timestamptz)
      ORDER BY a.effective_from`,
    [tx.tenantId, from, to],
  );
  return rows.map((r) => ({ plan: planOf(r), effectiveFrom: new Date(r.effective_from) }));
}

/** The plan in force at `at`, or undefined (no plan: no quotas, no invoice lines). */
export async function planAt(tx: TenantTx, at: Date): Promise<Assignment | undefined> {
  const { rows } = await tx.query<PlanRow & { effective_from: Date }>(
    `SELECT p.id, p.name, p.version, p.quotas, p.prices, p.hard_limit, p.created_at, a.effective_from
       FROM tenant_plans a JOIN billing_plans p ON p.id = a.plan_id
      WHERE a.tenant_id = $1 AND a.effective_from <= $2
      ORDER BY a.effective_from DESC LIMIT 1`,
    [tx.tenantId, at],
  );
  const r = rows[0];
  return r ? { plan: planOf(r), effectiveFrom: new Date(r.effective_from) } : undefined;
}

/** Whether the tenant has a closed invoice for the period (its plan history is then frozen). */
export async function invoiceClosed(tx: TenantTx, period: string): Promise<boolean> {
  const { rows } = await tx.query(`SELECT 1 FROM invoices WHERE tenant_id = $1 AND period = $2`, [
    tx.tenantId,
    period,
  ]);
  return rows.length > 0;
}
