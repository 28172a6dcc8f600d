import type { TenantTx } from '../platform/db/database.js';
import type { InvoiceDocument } from './invoice-math.js';

export async function creditsFor(
  tx: TenantTx,
  period: string,
): Promise<{ amountMicroUsd: bigint; reason: string }[]> {
  const { rows } = await tx.query<{ amount: string; reason: string }>(
    `SELECT amount_micro_usd::text AS amount, reason FROM billing_credits
      WHERE tenant_id = $1 AND period = $2 ORDER BY created_at, id`,
    [tx.tenantId, period],
  );
  return rows.map((r) => ({ amountMicroUsd: BigInt(r.amount), reason: r.reason }));
}

export async function insertCredit(
  tx: TenantTx,
  c: { period: string; amountMicroUsd: bigint; reason: string },
): Promise<{ id: string }> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO billing_credits (tenant_id, period, amount_micro_usd, reason)
     VALUES ($1, $2, $3, $4) RETURNING id`,
    [tx.tenantId, c.period, c.amountMicroUsd.toString(), c.reason],
  );
  const row = rows[0];
  if (!row) throw new Error('credit insert returned no row');
  return row;
}

export interface InvoiceRecord {
  id: string;
  period: string;
  closedAt: string;
  closedBy: string;
  invoice: InvoiceDocument;
}

interface InvoiceRow {
  id: string;
  period: string;
  closed_at: Date;
  closed_by: string;
  document: InvoiceDocument;
}

function recordOf(r: InvoiceRow): InvoiceRecord {
  return {
    id: r.id,
    period: r.period,
    closedAt: new Date(r.closed_at).toISOString(),
    closedBy: r.closed_by,
    invoice: r.document,
  };
}

/** Freezes the invoice; undefined when the period already has one (it is never replaced). */
export async function insertInvoice(
  tx: TenantTx,
  doc: InvoiceDocument,
  closedBy: string,
): Promise<InvoiceRecord | undefined> {
  const { rows } = await tx.query<InvoiceRow>(
    `INSERT INTO invoices (tenant_id, period, subtotal_cents, credits_cents, total_cents, document, closed_by)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
     ON CONFLICT (tenant_id, period) DO NOTHING
     RETURNING id, period, closed_at, closed_by, document`,
    [
      tx.tenantId,
      doc.period,
      doc.subtotalCents,
      doc.creditsCents,
      doc.totalCents,
      JSON.stringify(doc),
      closedBy,
    ],
  );
  return rows[0] ? recordOf(rows[0]) : undefined;
}

export async function getInvoice(tx: TenantTx, period: string): Promise<InvoiceRecord | undefined> {
  const { rows } = await tx.query<InvoiceRow>(
    `SELECT id, period, closed_at, closed_by, document FROM invoices
      WHERE tenant_id = $1 AND period = $2`,
    [tx.tenantId, period],
  );
  return rows[0] ? recordOf(rows[0]) : undefined;
}

export async function listInvoices(tx: TenantTx): Promise<InvoiceRecord[]> {
  const { rows } = await tx.query<InvoiceRow>(
    `SELECT id, period, closed_at, closed_by, document FROM invoices
      WHERE tenant_id = $1 ORDER BY period DESC LIMIT 120`,
    [tx.tenantId],
  );
  return rows.map(recordOf);
}
