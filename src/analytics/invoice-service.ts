import { appendAuditEvent } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { Conflict } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { recordWebhookEvent } from '../webhooks/index.js';
import { computeInvoice, type InvoiceDocument, type PlanSegment } from './invoice-math.js';
import {
  creditsFor,
  getInvoice,
  insertCredit,
  insertInvoice,
  listInvoices,
  type InvoiceRecord,
} from './invoice-store.js';
import type { PlanService } from './plans-service.js';
import { assignmentsBetween } from './plans-store.js';
import { microUsd } from './plans-terms.js';
import { parsePeriod, type Period } from './quotas-periods.js';
import { flowUsage, stockNow } from './quotas-store.js';

/** Invoice previews from the ledger, and closed (frozen, audited) invoices. */
export class InvoiceService {
  constructor(
    private readonly db: Database,
    private readonly plans: PlanService,
  ) {}

  /** The period's invoice computed now from the ledger (a closed period answers its record). */
  preview(principal: Pick<Principal, 'tenantId'>, periodId: string): Promise<InvoiceDocument> {
    const period = parsePeriod(periodId);
    return this.db.withTenant({ tenantId: principal.tenantId, groups: [] }, (tx) =>
      this.#compute(tx, period),
    );
  }

  previewAsOperator(tenantId: string, periodId: string): Promise<InvoiceDocument> {
    const period = parsePeriod(periodId);
    return this.plans.asOperatorIn(tenantId, (tx) => this.#compute(tx, period));
  }

  async #compute(tx: TenantTx, period: Period): Promise<InvoiceDocument> {
    const closed = await getInvoice(tx, period.id);
    if (closed) return closed.invoice;
    const assignments = await assignmentsBetween(tx, period.start, period.end);
    const segments: PlanSegment[] = [];
    for (let i = 0; i < assignments.length; i++) {
      const a = assignments[i];
      if (!a) continue;
      const from = new Date(Math.max(a.effectiveFrom.getTime(), period.start.getTime()));
      const to = assignments[i + 1]?.effectiveFrom ?? period.end;
      if (to.getTime() <= from.getTime()) continue;
      const u = await flowUsage(tx, from, to);
      segments.push({
        plan: a.plan,
        from,
        to,
        usage: {
          requests: u.requests,
          tokens: u.tokens,
          costUsd: u.costTicks,
          agentRuns: u.agentRuns,
        },
      });
    }
    const stock = await stockNow(tx);
    return computeInvoice({
      period,
      segments,
      stock: Object.fromEntries(stock),
      credits: await creditsFor(tx, period.id),
    });
  }

  /**
   * Closes a period: its invoice as previewed now is frozen (never recomputed or replaced),
   * audited and announced (invoice.closed) in one transaction. A period not over yet closes
   * only with `early` (its later usage is then never billed). Closing twice answers the record.
   */
  async close(
    tenantId: string,
    input: { period: string; early?: boolean | undefined },
    meta: RequestMeta,
  ): Promise<{ invoice: InvoiceRecord; created: boolean }> {
    const period = parsePeriod(input.period, 'body.period');
    if (period.end.getTime() > Date.now() && !input.early)
      throw new Conflict(
        `The period ${period.id} is not over; close it after ${period.end.toISOString()} (or with early: true).`,
        'period_open',
      );
    return this.plans.asOperatorIn(tenantId, async (tx) => {
      const existing = await getInvoice(tx, period.id);
      if (existing) return { invoice: existing, created: false };
      const doc = await this.#compute(tx, period);
      const record = await insertInvoice(tx, doc, 'operator');
      if (!record) throw new Conflict('The invoice was closed meanwhile.', 'invoice_closed');
      await appendAuditEvent(tx, {
        actor: { type: 'operator', id: null },
        action: 'invoice.closed',
        target: { type: 'invoice', id: record.id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: {
          period: period.id,
          totalCents: doc.totalCents,
          subtotalCents: doc.subtotalCents,
        },
      });
      await recordWebhookEvent(tx, 'invoice.closed', {
        invoiceId: record.id,
        period: period.id,
        currency: doc.currency,
        subtotalCents: doc.subtotalCents,
        creditsCents: doc.creditsCents,
        totalCents: doc.totalCents,
      });
      return { invoice: record, created: true };
    });
  }

  /** Grants a credit for a period (an invoice line); refused once the period is closed. */
  async grantCredit(
    tenantId: string,
    input: { period: string; amountUsd: number; reason: string },
    meta: RequestMeta,
  ): Promise<{ id: string }> {
    const period = parsePeriod(input.period, 'body.period');
    return this.plans.asOperatorIn(tenantId, async (tx) => {
      if (await getInvoice(tx, period.id))
        throw new Conflict(`The invoice of ${period.id} is closed.`, 'period_closed');
      const row = await insertCredit(tx, {
        period: period.id,
        amountMicroUsd: microUsd(input.amountUsd),
        reason: input.reason,
      });
      await appendAuditEvent(tx, {
        actor: { type: 'operator', id: null },
        action: 'billing_credit.granted',
        target: { type: 'tenant', id: tenantId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: {
          creditId: row.id,
          period: period.id,
          amountUsd: input.amountUsd,
          reason: input.reason,
        },
      });
      return row;
    });
  }

  list(principal: Pick<Principal, 'tenantId'>): Promise<InvoiceRecord[]> {
    return this.db.withTenant({ tenantId: principal.tenantId, groups: [] }, (tx) =>
      listInvoices(tx),
    );
  }
}
