import { route, type AnyRoute } from '../../platform/http/route.js';
import { LimitsSchema } from '../../platform/http/limits-schema.js';
import type { LimitsService } from './service.js';

const tags = ['gateway'];

/** GET/PUT /v1/limits: the tenant-wide limits (same object as a key's `limits`). */
export function limitsRoutes(limits: LimitsService): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/limits',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "The tenant's limits: rpm, tpm, concurrency and budget.",
      tags,
      response: { 200: LimitsSchema },
      handler: ({ principal }) => limits.getTenant(principal),
    }),
    route({
      method: 'PUT',
      url: '/v1/limits',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "Replace the tenant's limits (an absent field is unlimited).",
      tags,
      body: LimitsSchema,
      response: { 200: LimitsSchema },
      handler: ({ principal, body, meta }) => limits.putTenant(principal, body, meta),
    }),
  ];
}
