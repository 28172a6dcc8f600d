import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import {
  CreateWebhookBody,
  DeliveriesQuery,
  DeliveryView,
  PatchWebhookBody,
  RotateSecretBody,
  WebhookView,
  WebhookWithSecret,
} from './schemas.js';
import type { WebhookService } from './service.js';

const IdParams = z.object({ id: z.uuid() });
const DeliveryParams = z.object({ id: z.uuid(), deliveryId: z.uuid() });
const TAGS = ['webhooks'];

/** Webhook endpoints, their secrets and deliveries (all admin: webhooks:manage). */
export function webhookRoutes(service: WebhookService): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/webhooks',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: 'Subscribe an endpoint to events; answers its whsec_ signing secret once (audited).',
      tags: TAGS,
      body: CreateWebhookBody,
      status: 201,
      response: { 201: WebhookWithSecret },
      handler: ({ principal, body, meta }) => service.create(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/webhooks',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: "The tenant's webhook endpoints.",
      tags: TAGS,
      response: { 200: z.object({ data: z.array(WebhookView) }) },
      handler: ({ principal }) => service.list(principal),
    }),
    route({
      method: 'GET',
      url: '/v1/webhooks/:id',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: 'One webhook endpoint.',
      tags: TAGS,
      params: IdParams,
      response: { 200: WebhookView },
      handler: ({ principal, params }) => service.get(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/webhooks/:id',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: 'Change the URL, events, description or enabled flag of an endpoint (audited).',
      tags: TAGS,
      params: IdParams,
      body: PatchWebhookBody,
      response: { 200: WebhookView },
      handler: ({ principal, params, body, meta }) =>
        service.update(principal, params.id, body, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/webhooks/:id',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: 'Delete an endpoint and its deliveries (audited).',
      tags: TAGS,
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => service.remove(principal, params.id, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/webhooks/:id/rotate-secret',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary:
        'Replace the signing secret; the previous one keeps signing beside it for overlapSeconds (audited).',
      tags: TAGS,
      params: IdParams,
      body: RotateSecretBody,
      response: { 200: WebhookWithSecret },
      handler: ({ principal, params, body, meta }) =>
        service.rotate(principal, params.id, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/webhooks/:id/deliveries',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: "An endpoint's deliveries, newest first, with each attempt's status code and time.",
      tags: TAGS,
      params: IdParams,
      query: DeliveriesQuery,
      response: { 200: z.object({ data: z.array(DeliveryView) }) },
      handler: ({ principal, params, query }) => service.deliveries(principal, params.id, query),
    }),
    route({
      method: 'POST',
      url: '/v1/webhooks/:id/deliveries/:deliveryId/retry',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: 'Give a dead delivery one more attempt, with the same webhook-id (audited).',
      tags: TAGS,
      params: DeliveryParams,
      status: 202,
      response: { 202: DeliveryView },
      handler: ({ principal, params, meta }) =>
        service.retry(principal, params.id, params.deliveryId, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/webhooks/:id/ping',
      auth: 'tenant',
      permission: 'webhooks:manage',
      summary: 'Queue a signed webhook.ping message to the endpoint (audited).',
      tags: TAGS,
      params: IdParams,
      status: 202,
      response: { 202: DeliveryView },
      handler: ({ principal, params, meta }) => service.ping(principal, params.id, meta),
    }),
  ];
}
