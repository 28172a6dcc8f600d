import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../platform/db/database.js';
import type { TenantContext } from '../platform/db/types.js';
import { BlockedOutboundAddress } from '../platform/net/outbound-guard.js';
import type { OutboundHttp } from '../platform/net/outbound-http.js';
import { retryDelayMs, type Job, type JobHandler } from '../platform/queue/queue.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { messageOf } from '../platform/checked.js';
import { wakeEndpoint } from './outbox.js';
import { openSecret } from './secrets.js';
import { signedHeaders } from './signing.js';
import {
  acquireLease,
  findEndpoint,
  headDelivery,
  recordAttempt,
  releaseLease,
  type DeliveryRow,
  type DeliveryState,
  type EndpointSecretRow,
} from './store.js';

export interface DeliverySettings {
  /** Longest wait for a receiver's answer; a receiver that hangs fails the attempt after it. */
  timeoutMs: number;
  /** Attempts before a delivery goes dead. */
  maxAttempts: number;
  /** Retry delay after attempt n: min(retryMaxMs, retryBaseMs * 2^(n-1)), +/- 20 % jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
}

const Payload = z.object({ endpointId: z.uuid() });

/** Delay before the attempt after failed attempt n (1-based): doubling from the base, capped, ±20 %. */
export function deliveryRetryDelayMs(
  attempt: number,
  s: Pick<DeliverySettings, 'retryBaseMs' | 'retryMaxMs'>,
  random: () => number = Math.random,
): number {
  return retryDelayMs(
    attempt,
    { retryBaseMs: s.retryBaseMs, retryMaxMs: s.retryMaxMs, retryJitter: 0.2 },
    random,
  );
}

interface AttemptResult {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  startedAt: Date;
  blocked: boolean;
}

/**
 * The job that drains one endpoint's outbox, oldest first: each delivery goes out only after
 * the one before it was delivered or went dead, so a receiver sees an endpoint's events in
 * order. One worker at a time holds an endpoint (a lease on its row, renewed per delivery);
 * other jobs for it return at once, and the holder looks again after releasing, so nothing
 * committed meanwhile waits. Endpoints drain in separate jobs: a receiver that hangs holds only
 * its own, for at most the timeout per attempt.
 */
export class WebhookDeliverer {
  readonly #leaseMs: number;

  constructor(
    private readonly deps: {
      db: Database;
      http: OutboundHttp;
      keyring: Keyring | undefined;
      settings: DeliverySettings;
      logger?: Logger | undefined;
    },
  ) {
    this.#leaseMs = deps.settings.timeoutMs + 30_000;
  }

  handler(): JobHandler {
    return { run: (job) => this.run(job) };
  }

  async run(job: Job): Promise<void> {
    const { endpointId } = Payload.parse(job.payload);
    const ctx: TenantContext = { tenantId: job.tenantId, userId: null, groups: [] };
    const { db } = this.deps;
    for (;;) {
      const token = randomUUID();
      const held = await db.withTenant(ctx, (tx) =>
        acquireLease(tx, endpointId, token, this.#leaseMs),
      );
      if (!held) return;
      try {
        await this.#drain(ctx, endpointId, token);
      } finally {
        await db.withTenant(ctx, (tx) => releaseLease(tx, endpointId, token));
      }
      // A delivery committed while the lease was held found it taken: look once more.
      const head = await db.withTenant(ctx, (tx) => headDelivery(tx, endpointId));
      if (!head?.due) return;
    }
  }

  async #drain(ctx: TenantContext, endpointId: string, token: string): Promise<void> {
    const { db } = this.deps;
    for (;;) {
      const next = await db.withTenant(ctx, async (tx) => {
        if (!(await acquireLease(tx, endpointId, token, this.#leaseMs))) return undefined;
        const endpoint = await findEndpoint(tx, endpointId);
        const head = await headDelivery(tx, endpointId);
        return endpoint && head?.due ? { endpoint, delivery: head.row } : undefined;
      });
      if (!next) return;
      const result = await this.#attempt(next.endpoint, next.delivery);
      const outcome = this.#outcome(next.delivery, result);
      await db.withTenant(ctx, async (tx) => {
        await recordAttempt(
          tx,
          next.delivery.id,
          { ...result, attempt: next.delivery.attempts + 1 },
          outcome,
        );
        if (outcome.state === 'pending')
          await wakeEndpoint(tx, endpointId, new Date(Date.now() + outcome.retryInMs));
      });
      this.deps.logger?.info(
        {
          webhookId: endpointId,
          deliveryId: next.delivery.id,
          attempt: next.delivery.attempts + 1,
          statusCode: result.statusCode,
          state: outcome.state,
        },
        'webhook delivery attempted',
      );
      // The head failed and waits for its retry: the deliveries behind it wait too.
      if (outcome.state === 'pending') return;
    }
  }

  #outcome(d: DeliveryRow, r: AttemptResult): { state: DeliveryState; retryInMs: number } {
    const attempt = d.attempts + 1;
    if (r.statusCode !== null && r.statusCode >= 200 && r.statusCode < 300)
      return { state: 'delivered', retryInMs: 0 };
    // The address guard's refusal does not change by waiting.
    if (r.blocked || attempt >= (d.max_attempts ?? this.deps.settings.maxAttempts))
      return { state: 'dead', retryInMs: 0 };
    return { state: 'pending', retryInMs: deliveryRetryDelayMs(attempt, this.deps.settings) };
  }

  #secrets(e: EndpointSecretRow): string[] {
    if (!this.deps.keyring) throw new Error('RAMPART_MASTER_KEY is not configured');
    const ring = this.deps.keyring;
    const secrets = [openSecret(ring, e.tenant_id, e.id, e.secret_envelope)];
    if (
      e.previous_secret_envelope &&
      e.previous_secret_expires_at &&
      e.previous_secret_expires_at.getTime() > Date.now()
    )
      secrets.push(openSecret(ring, e.tenant_id, e.id, e.previous_secret_envelope));
    return secrets;
  }

  async #attempt(e: EndpointSecretRow, d: DeliveryRow): Promise<AttemptResult> {
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Rampart-Webhooks/1',
      ...signedHeaders(this.#secrets(e), d.id, Math.floor(Date.now() / 1000), d.body),
    };
    const startedAt = new Date();
    const t0 = performance.now();
    const took = (): number => Math.round(performance.now() - t0);
    try {
      const res = await this.deps.http.send({
        method: 'POST',
        url: e.url,
        headers,
        body: d.body,
        timeoutMs: this.deps.settings.timeoutMs,
      });
      const ok = res.status >= 200 && res.status < 300;
      return {
        statusCode: res.status,
        error: ok ? null : `the receiver answered ${res.status}`,
        durationMs: took(),
        startedAt,
        blocked: false,
      };
    } catch (err) {
      const timedOut =
        err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return {
        statusCode: null,
        error: timedOut
          ? `no answer within ${this.deps.settings.timeoutMs} ms`
          : messageOf(err).slice(0, 500),
        durationMs: took(),
        startedAt,
        blocked: err instanceof BlockedOutboundAddress,
      };
    }
  }
}
