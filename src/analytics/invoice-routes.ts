import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { InvoiceService } from './invoice-service.js';

const IdParams = z.object({ id: z.uuid() });
const Period = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'YYYY-MM');
const TAGS = ['billing'];

const InvoiceView = z.object({
  period: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  currency: z.literal('usd'),
  lines: z.array(
    z.looseObject({
      kind: z.enum(['base', 'included', 'overage', 'credit']),
      amountCents: z.number().int(),
    }),
  ),
  subtotalCents: z.number().int(),
  creditsCents: z.number().int(),
  totalCents: z.number().int(),
  rounding: z.string(),
});
const InvoiceRecordView = z.object({
  id: z.string(),
  period: z.string(),
  closedAt: z.string(),
  closedBy: z.string(),
  invoice: InvoiceView,
});

/** Invoice previews (tenant and operator), closing a period and credits (operator). */
export function invoiceRoutes(s: { invoices: InvoiceService }): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/billing/invoice-preview',
      auth: 'tenant',
      permission: 'usage:read',
      summary: "The period's invoice computed from the usage ledger now (integer cents).",
      tags: TAGS,
      query: z.object({ period: Period }),
      response: { 200: InvoiceView },
      handler: ({ principal, query }) => s.invoices.preview(principal, query.period),
    }),
    route({
      method: 'GET',
      url: '/v1/billing/invoices',
      auth: 'tenant',
      permission: 'usage:read',
      summary: "The tenant's closed invoices, newest first.",
      tags: TAGS,
      response: { 200: z.object({ data: z.array(InvoiceRecordView) }) },
      handler: async ({ principal }) => ({ data: await s.invoices.list(principal) }),
    }),
    route({
      method: 'GET',
      url: '/admin/v1/tenants/:id/invoice-preview',
      auth: 'operator',
      permission: undefined,
      summary: "A tenant's invoice for a period, computed from the ledger now.",
      tags: ['admin'],
      params: IdParams,
      query: z.object({ period: Period }),
      response: { 200: InvoiceView },
      handler: ({ params, query }) => s.invoices.previewAsOperator(params.id, query.period),
    }),
    route({
      method: 'POST',
      url: '/admin/v1/tenants/:id/invoices',
      auth: 'operator',
      permission: undefined,
      summary: 'Close a period: freeze its invoice (immutable, audited, invoice.closed webhook).',
      tags: ['admin'],
      params: IdParams,
      body: z.object({ period: Period, early: z.boolean().optional() }).strict(),
      response: { 200: z.object({ invoice: InvoiceRecordView, created: z.boolean() }) },
      handler: ({ params, body, meta }) => s.invoices.close(params.id, body, meta),
    }),
    route({
      method: 'POST',
      url: '/admin/v1/tenants/:id/credits',
      auth: 'operator',
      permission: undefined,
      summary: "Grant a tenant a credit on a period's invoice (audited).",
      tags: ['admin'],
      params: IdParams,
      body: z
        .object({
          period: Period,
          amountUsd: z.number().positive().max(1e9),
          reason: z.string().min(1).max(500),
        })
        .strict(),
      status: 201,
      response: { 201: z.object({ id: z.string() }) },
      handler: ({ params, body, meta }) => s.invoices.grantCredit(params.id, body, meta),
    }),
  ];
}
