import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { OffboardingService } from './offboarding.js';
import {
  HoldIdParams,
  HoldView,
  OffboardingView,
  PutHoldBody,
  PutRetentionBody,
  RetentionView,
  TenantIdParams,
} from './schemas.js';
import type { GovernanceService } from './service.js';

const TAGS = ['governance'];

/** Retention and legal holds (tenant owner), tenant offboarding (operator). */
export function governanceRoutes(
  service: GovernanceService,
  offboarding: OffboardingService,
): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/governance/retention',
      auth: 'tenant',
      permission: 'audit:read',
      summary: 'Retention period per data class, the audit floor and the recent sweeps.',
      tags: TAGS,
      response: { 200: RetentionView },
      handler: ({ principal }) => service.retention(principal),
    }),
    route({
      method: 'PUT',
      url: '/v1/governance/retention',
      auth: 'tenant',
      permission: 'governance:manage',
      summary:
        'Set (days), clear (null) or keep (omitted) the retention period of each data class (audited).',
      tags: TAGS,
      body: PutRetentionBody,
      response: { 200: RetentionView },
      handler: ({ principal, body, meta }) => service.setRetention(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/governance/holds',
      auth: 'tenant',
      permission: 'audit:read',
      summary: "The tenant's legal holds.",
      tags: TAGS,
      response: { 200: z.object({ data: z.array(HoldView) }) },
      handler: async ({ principal }) => ({ data: await service.holds(principal) }),
    }),
    route({
      method: 'PUT',
      url: '/v1/governance/holds',
      auth: 'tenant',
      permission: 'governance:manage',
      summary:
        'Place a legal hold on the tenant, a user or a document (or change its reason); retention deletes nothing it covers (audited).',
      tags: TAGS,
      body: PutHoldBody,
      response: { 200: HoldView },
      handler: async ({ principal, body, meta }) =>
        (await service.placeHold(principal, body, meta)).hold,
    }),
    route({
      method: 'DELETE',
      url: '/v1/governance/holds/:id',
      auth: 'tenant',
      permission: 'governance:manage',
      summary: 'Release a legal hold (audited).',
      tags: TAGS,
      params: HoldIdParams,
      status: 204,
      handler: ({ principal, params, meta }) => service.releaseHold(principal, params.id, meta),
    }),
    route({
      method: 'DELETE',
      url: '/admin/v1/tenants/:id',
      auth: 'operator',
      permission: undefined,
      summary:
        'Offboard a tenant: disabled at once (every key, session and token refused), purged after the grace period.',
      tags: ['admin'],
      params: TenantIdParams,
      status: 202,
      response: { 202: OffboardingView },
      handler: ({ params, meta }) => offboarding.disable(params.id, meta),
    }),
    route({
      method: 'POST',
      url: '/admin/v1/tenants/:id/restore',
      auth: 'operator',
      permission: undefined,
      summary: 'Restore a disabled tenant within its grace period.',
      tags: ['admin'],
      params: TenantIdParams,
      response: { 200: z.object({ tenantId: z.string(), status: z.literal('active') }) },
      handler: async ({ params, meta }) => {
        await offboarding.restore(params.id, meta);
        return { tenantId: params.id, status: 'active' as const };
      },
    }),
    route({
      method: 'GET',
      url: '/admin/v1/tenants/:id/offboarding',
      auth: 'operator',
      permission: undefined,
      summary: "An offboarded tenant's state: disabled, purging or purged, with the rows deleted.",
      tags: ['admin'],
      params: TenantIdParams,
      response: { 200: OffboardingView },
      handler: ({ params }) => offboarding.status(params.id),
    }),
  ];
}
