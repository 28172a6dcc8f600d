import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database } from '../platform/db/database.js';
import { AUDIT_HEAD_CHANNEL, chainHead } from './store.js';

/** The message of the head log line; a log pipeline selects these lines by it. */
export const AUDIT_HEAD_MESSAGE = 'audit chain head';

/** A tenant's chain head as published in the log, signed so the database cannot forge one. */
export interface SignedHead {
  tenantId: string;
  seq: number;
  hash: string;
  at: string;
  sig: string;
}

// A key of its own, derived from the server secret, so a head signature can never be mistaken
// for (or used to produce) an API-key HMAC made with the secret itself.
function headKey(serverSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, '', 'rampart audit head v1', 32));
}

function signedText(h: Omit<SignedHead, 'sig'>): string {
  return `rampart-audit-head-v1\n${h.tenantId}\n${h.seq}\n${h.hash}\n${h.at}`;
}

/** HMAC-SHA256 (hex) of a head under the key derived from the server secret. */
export function signHead(serverSecret: string, head: Omit<SignedHead, 'sig'>): string {
  return createHmac('sha256', headKey(serverSecret)).update(signedText(head)).digest('hex');
}

/** Whether a published head's signature was made with this server secret. */
export function headSignatureValid(serverSecret: string, head: SignedHead): boolean {
  const expected = Buffer.from(signHead(serverSecret, head), 'hex');
  const given = Buffer.from(head.sig, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface HeadPublisherDeps {
  db: Database;
  logger: Logger;
  serverSecret: string;
  /** Re-publishes the heads of known chains this often; 0: only when they change. */
  intervalMs: number;
  /** Appends within this window after the first give one line per tenant. */
  coalesceMs?: number;
}

/**
 * Publishes signed per-tenant chain heads as log lines, outside the database's reach: after
 * appends (coalesced: a burst gives one line per tenant) and on a timer, so deleting the newest
 * events shows against the last published head (`rampart audit verify --expect-head`). See
 * docs/decisions/003-audit-chain.md.
 */
export class AuditHeadPublisher {
  readonly #known = new Set<string>();
  readonly #pending = new Set<string>();
  #coalesce: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: HeadPublisherDeps) {}

  async start(): Promise<void> {
    this.#unlisten = await this.deps.db.listen(
      AUDIT_HEAD_CHANNEL,
      (tenantId) => this.#changed([tenantId]),
      // Signals may have been missed while reconnecting: restate every chain we know.
      () => this.#changed(this.#known),
    );
    if (this.deps.intervalMs > 0) {
      this.#interval = setInterval(() => this.#changed(this.#known), this.deps.intervalMs);
      this.#interval.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#interval);
    clearTimeout(this.#coalesce);
    this.#coalesce = undefined;
    const unlisten = this.#unlisten;
    this.#unlisten = undefined;
    await unlisten?.();
    // What changed before stopping is still published.
    await this.#flush();
  }

  #changed(tenantIds: Iterable<string>): void {
    for (const id of tenantIds) this.#pending.add(id);
    if (this.#pending.size === 0 || this.#coalesce) return;
    this.#coalesce = setTimeout(() => {
      this.#coalesce = undefined;
      void this.#flush();
    }, this.deps.coalesceMs ?? 200);
  }

  #flush(): Promise<void> {
    // One flush at a time, so lines of one tenant never go out of order.
    this.#flushing = this.#flushing.then(async () => {
      const tenants = [...this.#pending];
      this.#pending.clear();
      for (const tenantId of tenants) {
        try {
          await this.#publish(tenantId);
        } catch (err) {
          this.deps.logger.warn({ err, tenantId }, 'audit chain head could not be published');
        }
      }
    });
    return this.#flushing;
  }

  async #publish(tenantId: string): Promise<void> {
    const head = await this.deps.db.withTenant({ tenantId, userId: null, groups: [] }, (tx) =>
      chainHead(tx),
    );
    if (!head) return;
    this.#known.add(tenantId);
    const unsigned = { tenantId, seq: head.seq, hash: head.hash, at: new Date().toISOString() };
    const auditHead: SignedHead = { ...unsigned, sig: signHead(this.deps.serverSecret, unsigned) };
    this.deps.logger.info({ auditHead }, AUDIT_HEAD_MESSAGE);
  }
}
