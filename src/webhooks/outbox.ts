import { randomUUID } from 'node:crypto';
import type { TenantTx } from '../platform/db/database.js';
import { enqueueJob } from '../platform/queue/queue.js';
import { insertDelivery, takeSequences, type DeliveryRow } from './store.js';

/** The job that drains one endpoint's outbox (payload: { endpointId }). */
export const DELIVER_JOB = 'webhooks.deliver';

/** Events a tenant may subscribe to, and what their `data` holds (docs/billing.md, Webhooks). */
export const WEBHOOK_EVENTS = [
  'document.ready',
  'document.failed',
  'run.awaiting_approval',
  'run.finished',
  'quota.threshold',
  'invoice.closed',
  'budget.threshold',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The test message `POST /v1/webhooks/:id/ping` sends, whatever the endpoint subscribes to. */
export const PING_EVENT = 'webhook.ping';

/** The exact bytes sent: the Standard Webhooks payload shape `{ type, timestamp, data }`. */
function messageBody(type: string, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: new Date().toISOString(), data });
}

/** Enqueues the drain job of an endpoint, in tx (it exists exactly when the delivery commits). */
export async function wakeEndpoint(tx: TenantTx, endpointId: string, runAt?: Date): Promise<void> {
  await enqueueJob(tx, {
    kind: DELIVER_JOB,
    payload: { endpointId },
    ...(runAt ? { runAt } : {}),
  });
}

/**
 * Writes the outbox rows of an event in the caller's tenant transaction: one delivery for each
 * enabled endpoint subscribed to it, and a job to send them. The event and its deliveries commit
 * or roll back together, so a receiver never hears of a change that did not happen and never
 * misses one that did. Costs one UPDATE when the tenant has no endpoint for the event.
 */
export async function recordWebhookEvent(
  tx: TenantTx,
  type: WebhookEvent,
  data: Record<string, unknown>,
): Promise<void> {
  await writeDeliveries(tx, type, data);
}

/** The deliveries of one message to the subscribed endpoints (or to the one endpoint given). */
export async function writeDeliveries(
  tx: TenantTx,
  type: string,
  data: Record<string, unknown>,
  endpointId?: string,
): Promise<DeliveryRow[]> {
  const targets = await takeSequences(tx, type, endpointId);
  if (targets.length === 0) return [];
  const body = messageBody(type, data);
  const out: DeliveryRow[] = [];
  for (const t of targets) {
    out.push(
      await insertDelivery(tx, {
        id: randomUUID(),
        endpointId: t.id,
        seq: t.seq,
        eventType: type,
        body,
      }),
    );
    await wakeEndpoint(tx, t.id);
  }
  return out;
}
