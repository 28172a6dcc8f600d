import { randomUUID } from 'node:crypto';
import { appendAuditEvent, type AuditAction } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { Conflict, InvalidInput, NotFound, ServiceUnavailable } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { nonPublicAddressOf } from '../platform/net/outbound-guard.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { PING_EVENT, wakeEndpoint, writeDeliveries } from './outbox.js';
import type {
  CreateWebhookInput,
  DeliveryView,
  PatchWebhookInput,
  RotateSecretInput,
  WebhookView,
} from './schemas.js';
import { sealSecret } from './secrets.js';
import { generateSigningSecret, isSigningSecret } from './signing.js';
import {
  deleteEndpoint,
  findDelivery,
  findEndpoint,
  insertEndpoint,
  listDeliveries,
  listEndpoints,
  reviveDelivery,
  rotateSecret,
  updateEndpoint,
  type AttemptRow,
  type DeliveryRow,
  type DeliveryState,
  type EndpointRow,
} from './store.js';

export function toView(r: EndpointRow): WebhookView {
  return {
    id: r.id,
    url: r.url,
    events: r.events,
    description: r.description,
    enabled: r.enabled,
    previousSecretExpiresAt: r.previous_secret_expires_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

export function deliveryView(d: DeliveryRow, attempts: AttemptRow[] = []): DeliveryView {
  return {
    id: d.id,
    endpointId: d.endpoint_id,
    seq: Number(d.seq),
    eventType: d.event_type,
    state: d.state,
    attempts: d.attempts,
    nextAttemptAt: d.state === 'pending' ? d.next_attempt_at.toISOString() : null,
    lastStatus: d.last_status,
    lastError: d.last_error,
    createdAt: d.created_at.toISOString(),
    deliveredAt: d.delivered_at?.toISOString() ?? null,
    payload: parseBody(d.body),
    history: attempts.map((a) => ({
      attempt: a.attempt,
      statusCode: a.status_code,
      durationMs: a.duration_ms,
      error: a.error,
      startedAt: a.started_at.toISOString(),
    })),
  };
}

/** A tenant's webhook endpoints: definition, secret rotation, deliveries, retries and pings. */
export class WebhookService {
  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring | undefined,
    private readonly opts: { allowPrivate: boolean },
  ) {}

  #ring(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'Webhook signing secrets cannot be stored: RAMPART_MASTER_KEY is not configured.',
        'master_key_missing',
      );
    return this.keyring;
  }

  /** Refuses an address the delivery guard would refuse anyway, so the mistake shows at once. */
  async #checkUrl(url: string): Promise<void> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidInput('body.url: not a URL.', {
        errors: [{ field: 'body.url', message: 'not a URL' }],
      });
    }
    if (parsed.username || parsed.password)
      throw new InvalidInput('body.url: must not carry credentials.', {
        errors: [{ field: 'body.url', message: 'credentials in the URL' }],
      });
    if (this.opts.allowPrivate) return;
    const address = await nonPublicAddressOf(url);
    if (address)
      throw new InvalidInput(`body.url: ${parsed.hostname} is not a public address.`, {
        errors: [{ field: 'body.url', message: `resolves to ${address}` }],
      });
  }

  #secret(given: string | undefined): string {
    if (given === undefined) return generateSigningSecret();
    if (!isSigningSecret(given))
      throw new InvalidInput('body.secret: must be whsec_ followed by 24 to 64 bytes in base64.', {
        errors: [{ field: 'body.secret', message: 'not a whsec_ secret of 24 to 64 bytes' }],
      });
    return given;
  }

  async create(
    p: Principal,
    body: CreateWebhookInput,
    meta: RequestMeta,
  ): Promise<WebhookView & { secret: string }> {
    const ring = this.#ring();
    await this.#checkUrl(body.url);
    const secret = this.#secret(body.secret);
    const id = randomUUID();
    return this.db.withTenant(p, async (tx) => {
      const row = await insertEndpoint(tx, {
        id,
        url: body.url,
        events: body.events,
        description: body.description,
        secretEnvelope: sealSecret(ring, tx.tenantId, id, secret),
      });
      await audit(tx, p, meta, 'webhook.created', id, { url: body.url, events: body.events });
      return { ...toView(row), secret };
    });
  }

  async list(p: Principal): Promise<{ data: WebhookView[] }> {
    const rows = await this.db.withTenant(p, (tx) => listEndpoints(tx));
    return { data: rows.map(toView) };
  }

  async get(p: Principal, id: string): Promise<WebhookView> {
    const row = await this.db.withTenant(p, (tx) => findEndpoint(tx, id));
    if (!row) throw new NotFound('Webhook');
    return toView(row);
  }

  async update(
    p: Principal,
    id: string,
    body: PatchWebhookInput,
    meta: RequestMeta,
  ): Promise<WebhookView> {
    if (body.url !== undefined) await this.#checkUrl(body.url);
    return this.db.withTenant(p, async (tx) => {
      const row = await updateEndpoint(tx, id, body);
      if (!row) throw new NotFound('Webhook');
      // Re-enabled (or moved): what waited in its outbox goes out now.
      if (row.enabled) await wakeEndpoint(tx, id);
      await audit(tx, p, meta, 'webhook.updated', id, { fields: Object.keys(body) });
      return toView(row);
    });
  }

  async remove(p: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(p, async (tx) => {
      if (!(await deleteEndpoint(tx, id))) throw new NotFound('Webhook');
      await audit(tx, p, meta, 'webhook.deleted', id, {});
    });
  }

  /** A new secret; the one it replaces keeps signing beside it for overlapSeconds. */
  async rotate(
    p: Principal,
    id: string,
    body: RotateSecretInput,
    meta: RequestMeta,
  ): Promise<WebhookView & { secret: string }> {
    const ring = this.#ring();
    const secret = this.#secret(body.secret);
    return this.db.withTenant(p, async (tx) => {
      const current = await findEndpoint(tx, id);
      if (!current) throw new NotFound('Webhook');
      const until =
        body.overlapSeconds > 0 ? new Date(Date.now() + body.overlapSeconds * 1000) : null;
      const row = await rotateSecret(
        tx,
        id,
        sealSecret(ring, tx.tenantId, id, secret),
        current.secret_envelope,
        until,
      );
      if (!row) throw new NotFound('Webhook');
      await audit(tx, p, meta, 'webhook.secret_rotated', id, {
        overlapSeconds: body.overlapSeconds,
      });
      return { ...toView(row), secret };
    });
  }

  async deliveries(
    p: Principal,
    id: string,
    q: { state?: DeliveryState | undefined; limit: number },
  ): Promise<{ data: DeliveryView[] }> {
    return this.db.withTenant(p, async (tx) => {
      if (!(await findEndpoint(tx, id))) throw new NotFound('Webhook');
      const { deliveries, attempts } = await listDeliveries(tx, id, q);
      return {
        data: deliveries.map((d) =>
          deliveryView(
            d,
            attempts.filter((a) => a.delivery_id === d.id),
          ),
        ),
      };
    });
  }

  /** Gives a dead delivery one more attempt, with the same webhook-id (receivers deduplicate). */
  async retry(
    p: Principal,
    id: string,
    deliveryId: string,
    meta: RequestMeta,
  ): Promise<DeliveryView> {
    return this.db.withTenant(p, async (tx) => {
      const revived = await reviveDelivery(tx, id, deliveryId);
      if (!revived) {
        const existing = await findDelivery(tx, id, deliveryId);
        if (!existing) throw new NotFound('Delivery');
        throw new Conflict(
          `The delivery is ${existing.state}; only a dead delivery can be retried.`,
          'delivery_not_dead',
        );
      }
      await wakeEndpoint(tx, id);
      await audit(tx, p, meta, 'webhook_delivery.retried', id, { deliveryId });
      return deliveryView(revived);
    });
  }

  /** Queues a `webhook.ping` message to the endpoint, in order with its other deliveries. */
  async ping(p: Principal, id: string, meta: RequestMeta): Promise<DeliveryView> {
    return this.db.withTenant(p, async (tx) => {
      const endpoint = await findEndpoint(tx, id);
      if (!endpoint) throw new NotFound('Webhook');
      if (!endpoint.enabled)
        throw new Conflict('The webhook is disabled; enable it to ping it.', 'webhook_disabled');
      const [delivery] = await writeDeliveries(tx, PING_EVENT, { webhookId: id }, id);
      if (!delivery) throw new NotFound('Webhook');
      await audit(tx, p, meta, 'webhook.pinged', id, { deliveryId: delivery.id });
      return deliveryView(delivery);
    });
  }
}

async function audit(
  tx: TenantTx,
  principal: Principal,
  meta: RequestMeta,
  action: AuditAction,
  id: string,
  details: Record<string, unknown>,
): Promise<void> {
  await appendAuditEvent(tx, {
    actor: actorOf(principal),
    action,
    target: { type: 'webhook', id },
    outcome: 'success',
    ip: meta.ip,
    requestId: meta.requestId,
    details,
  });
}
