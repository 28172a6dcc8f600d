import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { PlanService } from './plans-service.js';
import { PlanPrices, PlanQuotas } from './plans-terms.js';
import type { QuotaService } from './quotas-service.js';

const IdParams = z.object({ id: z.uuid() });
const TAGS = ['billing'];

const PlanView = z.object({
  id: z.string(),
  name: z.string(),
  version: z.number().int(),
  quotas: PlanQuotas,
  prices: PlanPrices,
  hardLimit: z.boolean(),
  createdAt: z.string(),
});
const CreatePlanBody = z
  .object({
    name: z.string().min(1).max(100),
    quotas: PlanQuotas.default({}),
    prices: PlanPrices,
    hardLimit: z.boolean(),
  })
  .strict();
const RevisePlanBody = z
  .object({
    quotas: PlanQuotas.optional(),
    prices: PlanPrices.optional(),
    hardLimit: z.boolean().optional(),
  })
  .strict();
const AssignPlanBody = z
  .object({ planId: z.uuid(), effectiveFrom: z.iso.datetime({ offset: true }).optional() })
  .strict();
const MeterUsageView = z.object({
  meter: z.string(),
  quota: z.number().nullable(),
  used: z.number(),
  left: z.number().nullable(),
  unit: z.string(),
});
const UsageView = z.object({
  plan: PlanView.nullable(),
  period: z.object({ id: z.string(), start: z.string(), end: z.string() }),
  meters: z.array(MeterUsageView),
});

/** The operator's plan catalogue and tenant plans; the tenant's view of its plan and usage. */
export function plansRoutes(s: {
  plans: PlanService;
  quotas: Pick<QuotaService, 'usage'>;
}): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/admin/v1/plans',
      auth: 'operator',
      permission: undefined,
      summary: 'Define a plan: quotas, base price, overage prices, hard or soft limits.',
      tags: ['admin'],
      body: CreatePlanBody,
      status: 201,
      response: { 201: PlanView },
      handler: ({ body }) => s.plans.create(body),
    }),
    route({
      method: 'GET',
      url: '/admin/v1/plans',
      auth: 'operator',
      permission: undefined,
      summary: "Every plan's latest version (?versions=all: every version).",
      tags: ['admin'],
      query: z.object({ versions: z.enum(['latest', 'all']).default('latest') }),
      response: { 200: z.object({ data: z.array(PlanView) }) },
      handler: async ({ query }) => ({ data: await s.plans.list(query.versions === 'all') }),
    }),
    route({
      method: 'GET',
      url: '/admin/v1/plans/:id',
      auth: 'operator',
      permission: undefined,
      summary: 'One plan version.',
      tags: ['admin'],
      params: IdParams,
      response: { 200: PlanView },
      handler: ({ params }) => s.plans.get(params.id),
    }),
    route({
      method: 'PATCH',
      url: '/admin/v1/plans/:id',
      auth: 'operator',
      permission: undefined,
      summary: 'Revise a plan: creates its next version (versions never change).',
      tags: ['admin'],
      params: IdParams,
      body: RevisePlanBody,
      status: 201,
      response: { 201: PlanView },
      handler: ({ params, body }) => s.plans.revise(params.id, body),
    }),
    route({
      method: 'PUT',
      url: '/admin/v1/tenants/:id/plan',
      auth: 'operator',
      permission: undefined,
      summary: 'Put a tenant on a plan from an effective date (mid-period: prorated; audited).',
      tags: ['admin'],
      params: IdParams,
      body: AssignPlanBody,
      response: { 200: z.object({ planId: z.string(), effectiveFrom: z.string() }) },
      handler: ({ params, body, meta }) => s.plans.assign(params.id, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/billing/plan',
      auth: 'tenant',
      permission: 'usage:read',
      summary: "The tenant's plan now (null: none).",
      tags: TAGS,
      response: {
        200: z.object({ plan: PlanView.nullable(), effectiveFrom: z.string().nullable() }),
      },
      handler: async ({ principal }) => {
        const current = await s.plans.current(principal.tenantId);
        return {
          plan: current?.plan ?? null,
          effectiveFrom: current?.effectiveFrom.toISOString() ?? null,
        };
      },
    }),
    route({
      method: 'GET',
      url: '/v1/billing/usage',
      auth: 'tenant',
      permission: 'usage:read',
      summary: 'Per quota meter: the quota, what was used this period and what is left.',
      tags: TAGS,
      response: { 200: UsageView },
      handler: ({ principal }) => s.quotas.usage(principal),
    }),
  ];
}
