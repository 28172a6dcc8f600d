import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { ApiKeyService } from './keys-service.js';
import type { TenantService } from './tenants-service.js';
import {
  ApiKeyDetailSchema,
  CreateApiKeyBody,
  CreateTenantBody,
  IdParams,
  PageQuery,
  PatchApiKeyBody,
  TenantSchema,
} from './schemas.js';

export interface IdentityServices {
  tenants: TenantService;
  keys: ApiKeyService;
}

const MeResponse = z.object({
  tenant: z.object({ id: z.string(), slug: z.string() }),
  principal: z.object({
    type: z.enum(['api_key', 'user']),
    keyId: z.string().nullable(),
    userId: z.string().nullable(),
    role: z.string(),
    permissions: z.array(z.string()),
    groups: z.array(z.string()),
  }),
});

export function identityRoutes(s: IdentityServices): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/admin/v1/tenants',
      auth: 'operator',
      permission: undefined,
      summary: 'Create a tenant and its first owner API key (shown once).',
      tags: ['admin'],
      body: CreateTenantBody,
      status: 201,
      response: { 201: z.object({ tenant: TenantSchema, apiKey: z.string() }) },
      handler: async ({ body, meta }) => {
        const { tenant, apiKey } = await s.tenants.create(body, meta);
        return { tenant, apiKey };
      },
    }),
    route({
      method: 'GET',
      url: '/v1/me',
      auth: 'tenant',
      permission: 'tenant:read',
      summary: 'The calling principal: tenant, role, permissions and groups.',
      tags: ['identity'],
      response: { 200: MeResponse },
      handler: ({ principal }) => ({
        tenant: { id: principal.tenantId, slug: principal.tenantSlug },
        principal: {
          type: principal.kind,
          keyId: principal.keyId,
          userId: principal.userId,
          role: principal.role,
          permissions: [...principal.permissions].sort(),
          groups: [...principal.groups],
        },
      }),
    }),
    route({
      method: 'POST',
      url: '/v1/api-keys',
      auth: 'tenant',
      permission: 'keys:manage',
      summary: 'Create an API key. The secret is in this response only.',
      tags: ['identity'],
      body: CreateApiKeyBody,
      status: 201,
      response: { 201: ApiKeyDetailSchema.extend({ secret: z.string() }) },
      handler: async ({ principal, body, meta }) => {
        const { key, secret } = await s.keys.create(principal, body, meta);
        return { ...key, secret };
      },
    }),
    route({
      method: 'GET',
      url: '/v1/api-keys',
      auth: 'tenant',
      permission: 'keys:manage',
      summary:
        "List the tenant's API keys with their model allow-lists and limits (never their secrets).",
      tags: ['identity'],
      query: PageQuery.extend({
        includeRevoked: z
          .enum(['true', 'false'])
          .default('false')
          .transform((v) => v === 'true'),
      }),
      response: {
        200: z.object({ data: z.array(ApiKeyDetailSchema), nextCursor: z.string().nullable() }),
      },
      handler: ({ principal, query }) => s.keys.list(principal, query),
    }),
    route({
      method: 'GET',
      url: '/v1/api-keys/:id',
      auth: 'tenant',
      permission: 'keys:manage',
      summary: 'One API key with its model allow-list and limits (never its secret).',
      tags: ['identity'],
      params: IdParams,
      response: { 200: ApiKeyDetailSchema },
      handler: ({ principal, params }) => s.keys.get(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/api-keys/:id',
      auth: 'tenant',
      permission: 'keys:manage',
      summary: "Change a key's name, role or groups (takes effect on every instance at once).",
      tags: ['identity'],
      params: IdParams,
      body: PatchApiKeyBody,
      response: { 200: ApiKeyDetailSchema },
      handler: ({ principal, params, body, meta }) =>
        s.keys.update(principal, params.id, body, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/api-keys/:id',
      auth: 'tenant',
      permission: 'keys:manage',
      summary: 'Revoke an API key (takes effect on every instance at once).',
      tags: ['identity'],
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => s.keys.revoke(principal, params.id, meta),
    }),
  ];
}
