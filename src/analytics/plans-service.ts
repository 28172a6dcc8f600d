import type { Logger } from 'pino';
import { appendAuditEvent } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { Conflict, NotFound } from '../platform/http/errors.js';
import type { RequestMeta } from '../platform/http/principal.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { QuotaGate } from '../platform/quota.js';
import { InvoiceService } from './invoice-service.js';
import { invoiceRoutes } from './invoice-routes.js';
import { plansRoutes } from './plans-routes.js';
import {
  assignPlan,
  getPlan,
  insertPlanVersion,
  invoiceClosed,
  listPlans,
  planAt,
  tenantExists,
  type Assignment,
} from './plans-store.js';
import type { PlanPrices, PlanQuotas, PlanTerms } from './plans-terms.js';
import { periodOf } from './quotas-periods.js';
import { QuotaService, type HoldStore } from './quotas-service.js';

/** How long a replica trusts its copy of a tenant's plan (a change elsewhere shows within it). */
const PLAN_CACHE_MS = 5_000;

export interface PlanInput {
  name: string;
  quotas: PlanQuotas;
  prices: PlanPrices;
  hardLimit: boolean;
}

/** The operator's plan catalogue and each tenant's plan over time. */
export class PlanService {
  readonly #cache = new Map<string, { at: Assignment | undefined; until: number }>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {}

  /** A plan's first version (an existing name gets its next version: plans are never edited). */
  async create(input: PlanInput): Promise<PlanTerms> {
    const plan = await this.db.withOperator((op) => insertPlanVersion(op, input));
    // Plans are the operator's catalogue, in no tenant's audit chain: the immutable versioned
    // row is the record; the log line says who changed the catalogue when.
    this.logger.info(
      { planId: plan.id, name: plan.name, version: plan.version },
      'plan version created',
    );
    return plan;
  }

  list(all: boolean): Promise<PlanTerms[]> {
    return this.db.withOperator((op) => listPlans(op, all));
  }

  async get(id: string): Promise<PlanTerms> {
    const plan = await this.db.withOperator((op) => getPlan(op, id));
    if (!plan) throw new NotFound('Plan');
    return plan;
  }

  /** The next version of a plan: the given fields replace the previous version's. */
  async revise(id: string, patch: Partial<Omit<PlanInput, 'name'>>): Promise<PlanTerms> {
    const prev = await this.get(id);
    return this.create({
      name: prev.name,
      quotas: patch.quotas ?? prev.quotas,
      prices: patch.prices ?? prev.prices,
      hardLimit: patch.hardLimit ?? prev.hardLimit,
    });
  }

  /** Runs fn in the tenant's transaction as the operator; 404 when the tenant does not exist. */
  async asOperatorIn<T>(tenantId: string, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
    return this.db.withOperator(async (op) => {
      const tx = await op.enterTenant({ tenantId, userId: null, groups: [] });
      if (!(await tenantExists(tx))) throw new NotFound('Tenant');
      return fn(tx);
    });
  }

  /**
   * Puts a tenant on a plan from `effectiveFrom` (default now; mid-period: the invoice prorates
   * by the second). A period already invoiced cannot change.
   */
  async assign(
    tenantId: string,
    input: { planId: string; effectiveFrom?: string | undefined },
    meta: RequestMeta,
  ): Promise<{ planId: string; effectiveFrom: string }> {
    const effectiveFrom = input.effectiveFrom ? new Date(input.effectiveFrom) : new Date();
    await this.asOperatorIn(tenantId, async (tx) => {
      const plan = await getPlan(tx, input.planId);
      if (!plan) throw new NotFound('Plan');
      if (await invoiceClosed(tx, periodOf(effectiveFrom).id))
        throw new Conflict(
          `The invoice of ${periodOf(effectiveFrom).id} is closed; its plan cannot change.`,
          'period_closed',
        );
      const row = await assignPlan(tx, plan.id, effectiveFrom);
      if (!row.id)
        throw new Conflict(
          'The tenant already changes plan at that instant.',
          'plan_change_exists',
        );
      await appendAuditEvent(tx, {
        actor: { type: 'operator', id: null },
        action: 'plan.assigned',
        target: { type: 'tenant', id: tenantId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: {
          planId: plan.id,
          name: plan.name,
          version: plan.version,
          effectiveFrom: effectiveFrom.toISOString(),
        },
      });
    });
    this.#cache.delete(tenantId);
    return { planId: input.planId, effectiveFrom: effectiveFrom.toISOString() };
  }

  /** The tenant's plan now, cached for a few seconds per replica (every consuming call asks). */
  async current(tenantId: string): Promise<Assignment | undefined> {
    const now = Date.now();
    const hit = this.#cache.get(tenantId);
    if (hit && hit.until > now) return hit.at;
    const at = await this.db.withTenant({ tenantId, groups: [] }, (tx) =>
      planAt(tx, new Date(now)),
    );
    this.#cache.set(tenantId, { at, until: now + PLAN_CACHE_MS });
    return at;
  }
}

export interface PlansAndInvoices {
  plans: PlanService;
  quotas: QuotaGate & Pick<QuotaService, 'usage'>;
  invoices: InvoiceService;
  routes: AnyRoute[];
}

/** Builds plans, quotas and invoices on the gateway's limiter (one store for every counter). */
export function createPlansAndInvoices(deps: {
  db: Database;
  logger: Logger;
  holds: HoldStore;
}): PlansAndInvoices {
  const plans = new PlanService(deps.db, deps.logger);
  const quotas = new QuotaService({ db: deps.db, holds: deps.holds, plans, logger: deps.logger });
  const invoices = new InvoiceService(deps.db, plans);
  return {
    plans,
    quotas,
    invoices,
    routes: [...plansRoutes({ plans, quotas }), ...invoiceRoutes({ invoices })],
  };
}
