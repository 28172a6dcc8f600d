import { z } from 'zod';
import { WEBHOOK_EVENTS } from './outbox.js';

const Url = z
  .string()
  .max(2048)
  .regex(/^https?:\/\//, 'must be an http:// or https:// URL');
const Events = z
  .array(z.enum(WEBHOOK_EVENTS))
  .min(1)
  .max(50)
  .transform((xs) => [...new Set(xs)]);
const Secret = z.string().startsWith('whsec_').max(200);

export const CreateWebhookBody = z.object({
  url: Url,
  events: Events,
  description: z.string().max(500).default(''),
  /** A `whsec_…` secret of 24 to 64 bytes; one is generated when omitted. */
  secret: Secret.optional(),
});
export type CreateWebhookInput = z.infer<typeof CreateWebhookBody>;

export const PatchWebhookBody = z
  .object({
    url: Url.optional(),
    events: Events.optional(),
    description: z.string().max(500).optional(),
    enabled: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change');
export type PatchWebhookInput = z.infer<typeof PatchWebhookBody>;

export const RotateSecretBody = z.object({
  secret: Secret.optional(),
  /** How long the previous secret keeps signing beside the new one (default a day, at most 7). */
  overlapSeconds: z.number().int().min(0).max(604_800).default(86_400),
});
export type RotateSecretInput = z.infer<typeof RotateSecretBody>;

export const WebhookView = z.object({
  id: z.uuid(),
  url: z.string(),
  events: z.array(z.string()),
  description: z.string(),
  enabled: z.boolean(),
  /** While set and in the future, deliveries carry the previous secret's signature too. */
  previousSecretExpiresAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type WebhookView = z.infer<typeof WebhookView>;

/** Creation and rotation answer the secret, once. */
export const WebhookWithSecret = WebhookView.extend({ secret: z.string() });

export const AttemptView = z.object({
  attempt: z.number(),
  statusCode: z.number().nullable(),
  durationMs: z.number(),
  error: z.string().nullable(),
  startedAt: z.string(),
});

export const DeliveryView = z.object({
  /** The webhook-id header: the same on every attempt. */
  id: z.uuid(),
  endpointId: z.uuid(),
  seq: z.number(),
  eventType: z.string(),
  state: z.enum(['pending', 'delivered', 'dead']),
  attempts: z.number(),
  nextAttemptAt: z.string().nullable(),
  lastStatus: z.number().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
  payload: z.unknown(),
  history: z.array(AttemptView),
});
export type DeliveryView = z.infer<typeof DeliveryView>;

export const DeliveriesQuery = z.object({
  state: z.enum(['pending', 'delivered', 'dead']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
