import { z } from 'zod';
import { route, type AnyRoute } from '../../platform/http/route.js';
import type { ProviderService } from './providers-service.js';
import type { RoutingService } from './routing-service.js';
import {
  AliasParams,
  CreateProviderBody,
  CreateRouteBody,
  ModelParams,
  PatchProviderBody,
  PriceSchema,
  ProviderSchema,
  PutPriceBody,
  RouteBody,
  RouteSchema,
} from './schemas.js';

const IdParams = z.object({ id: z.uuid() });
const tags = ['gateway'];

/** /v1/providers, /v1/routes and /v1/prices: the tenant admin's gateway configuration. */
export function gatewayManageRoutes(s: {
  providers: ProviderService;
  routing: RoutingService;
}): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/providers',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: 'Add an upstream provider. Its API key is encrypted at rest and never returned.',
      tags,
      body: CreateProviderBody,
      status: 201,
      response: { 201: ProviderSchema },
      handler: ({ principal, body, meta }) => s.providers.create(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/providers',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary:
        "The tenant's providers, and the platform providers its routes may also use (never their keys).",
      tags,
      response: {
        200: z.object({
          data: z.array(ProviderSchema),
          platform: z.array(ProviderSchema.pick({ name: true, type: true, baseUrl: true })),
        }),
      },
      handler: async ({ principal }) => ({
        data: await s.providers.list(principal),
        platform: s.providers.platformList(),
      }),
    }),
    route({
      method: 'GET',
      url: '/v1/providers/:id',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: 'One provider (never its key).',
      tags,
      params: IdParams,
      response: { 200: ProviderSchema },
      handler: ({ principal, params }) => s.providers.get(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/providers/:id',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "Change a provider's name, base URL, headers or API key.",
      tags,
      params: IdParams,
      body: PatchProviderBody,
      response: { 200: ProviderSchema },
      handler: ({ principal, params, body, meta }) =>
        s.providers.update(principal, params.id, body, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/providers/:id',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: 'Delete a provider no route uses.',
      tags,
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => s.providers.remove(principal, params.id, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/routes',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary:
        "Route a model alias ('*' passes model names through) to weighted targets and fallbacks.",
      tags,
      body: CreateRouteBody,
      status: 201,
      response: { 201: RouteSchema },
      handler: ({ principal, body, meta }) => {
        const { alias, ...input } = body;
        return s.routing.create(principal, alias, input, meta);
      },
    }),
    route({
      method: 'GET',
      url: '/v1/routes',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "The tenant's model routes.",
      tags,
      response: { 200: z.object({ data: z.array(RouteSchema) }) },
      handler: async ({ principal }) => ({ data: await s.routing.list(principal) }),
    }),
    route({
      method: 'GET',
      url: '/v1/routes/:alias',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: 'One model route.',
      tags,
      params: AliasParams,
      response: { 200: RouteSchema },
      handler: ({ principal, params }) => s.routing.get(principal, params.alias),
    }),
    route({
      method: 'PUT',
      url: '/v1/routes/:alias',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "Replace (or create) an alias's route.",
      tags,
      params: AliasParams,
      body: RouteBody,
      response: { 200: RouteSchema },
      handler: async ({ principal, params, body, meta }) =>
        (await s.routing.put(principal, params.alias, body, meta)).route,
    }),
    route({
      method: 'DELETE',
      url: '/v1/routes/:alias',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: 'Delete a model route.',
      tags,
      params: AliasParams,
      status: 204,
      handler: ({ principal, params, meta }) => s.routing.remove(principal, params.alias, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/prices',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary:
        'Model prices (USD per million tokens): built-in, overlaid with this tenant’s overrides.',
      tags,
      response: { 200: z.object({ data: z.array(PriceSchema) }) },
      handler: async ({ principal }) => ({ data: await s.routing.prices(principal) }),
    }),
    route({
      method: 'PUT',
      url: '/v1/prices/:model',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "Set this tenant's price for a model (USD per million tokens).",
      tags,
      params: ModelParams,
      body: PutPriceBody,
      response: { 200: PriceSchema },
      handler: ({ principal, params, body, meta }) =>
        s.routing.setPrice(
          principal,
          params.model,
          { input: body.input, output: body.output, cachedInput: body.cachedInput ?? body.input },
          meta,
        ),
    }),
    route({
      method: 'DELETE',
      url: '/v1/prices/:model',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "Remove this tenant's price override for a model.",
      tags,
      params: ModelParams,
      status: 204,
      handler: ({ principal, params, meta }) =>
        s.routing.removePrice(principal, params.model, meta),
    }),
  ];
}
