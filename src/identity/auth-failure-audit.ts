import { appendAuditEvent, type ActorType } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import type { AuthMetrics } from './auth-metrics.js';

/** One refused authentication, as the request path hands it over (memory only). */
export interface AuthFailure {
  tenantId: string;
  actor: { type: ActorType; id: string | null };
  reason: string;
  ip: string;
  route: string;
  requestId: string;
  at: Date;
}

interface Bucket {
  tenantId: string;
  actor: AuthFailure['actor'];
  reason: string;
  ip: string | null;
  minute: number;
  count: number;
  first: Date;
  last: Date;
  samples: { requestId: string; route: string; at: string }[];
}

/** Requests kept in full per aggregated event; the rest are counted. */
const SAMPLES = 3;
/** Distinct (source, reason, minute) buckets between flushes; beyond it new sources share one. */
const MAX_BUCKETS = 10_000;

/**
 * Audit of refused authentications, off the request path: failures are aggregated per tenant
 * chain, actor, source address, reason and minute (count, first and last time, the first few
 * requests in full) and appended in batches by one background flusher, one transaction per
 * chain. The events are ordinary hash-chained audit events, so the record stays tamper-evident;
 * a flood becomes a few events with counts, and no request ever waits on a chain lock for it.
 * A batch that cannot be written goes back into the buffer, counts intact, for the next flush.
 */
export class AuthFailureAudit {
  #buckets = new Map<string, Bucket>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly opts: {
      flushIntervalMs: number;
      metrics?: AuthMetrics | undefined;
      onError?: (err: unknown) => void;
    },
  ) {}

  /** Counts a failure into its bucket; never touches the database. */
  record(f: AuthFailure): void {
    const minute = Math.floor(f.at.getTime() / 60_000);
    let key = [f.tenantId, f.actor.type, f.actor.id, f.ip, f.reason, minute].join('|');
    let ip: string | null = f.ip;
    if (!this.#buckets.has(key) && this.#buckets.size >= MAX_BUCKETS) {
      // Too many distinct sources at once: the rest of this minute's are counted together.
      ip = null;
      key = [f.tenantId, f.actor.type, f.actor.id, '*', f.reason, minute].join('|');
    }
    let b = this.#buckets.get(key);
    if (!b) {
      b = {
        tenantId: f.tenantId,
        actor: f.actor,
        reason: f.reason,
        ip,
        minute,
        count: 0,
        first: f.at,
        last: f.at,
        samples: [],
      };
      this.#buckets.set(key, b);
    }
    b.count++;
    b.last = f.at;
    if (b.samples.length < SAMPLES)
      b.samples.push({ requestId: f.requestId, route: f.route, at: f.at.toISOString() });
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is buffered. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  /** Appends everything buffered so far; concurrent calls run one after another. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  get pending(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.count;
    return n;
  }

  async #flushOnce(): Promise<void> {
    if (this.#buckets.size === 0) return;
    const batch = this.#buckets;
    this.#buckets = new Map();
    const byTenant = new Map<string, Bucket[]>();
    for (const b of batch.values()) {
      const list = byTenant.get(b.tenantId) ?? [];
      list.push(b);
      byTenant.set(b.tenantId, list);
    }
    for (const [tenantId, buckets] of byTenant) {
      try {
        await this.db.withTenant({ tenantId, userId: null, groups: [] }, async (tx) => {
          for (const b of buckets) await appendAuditEvent(tx, toEvent(b));
        });
        const m = this.opts.metrics;
        m?.auditBatches.inc();
        m?.auditEvents.inc(buckets.length);
        m?.auditFailures.inc(buckets.reduce((n, b) => n + b.count, 0));
      } catch (err) {
        for (const b of buckets) this.#restore(b);
        this.opts.onError?.(err);
      }
    }
  }

  #restore(b: Bucket): void {
    const key = [b.tenantId, b.actor.type, b.actor.id, b.ip ?? '*', b.reason, b.minute].join('|');
    const now = this.#buckets.get(key);
    if (!now) {
      this.#buckets.set(key, b);
      return;
    }
    now.count += b.count;
    now.first = b.first;
    now.samples = [...b.samples, ...now.samples].slice(0, SAMPLES);
  }
}

function toEvent(b: Bucket): Parameters<typeof appendAuditEvent>[1] {
  const first = b.samples[0];
  return {
    actor: b.actor,
    action: 'auth.unauthenticated',
    outcome: 'denied',
    ip: b.ip,
    requestId: first?.requestId ?? null,
    details: {
      reason: b.reason,
      count: b.count,
      minute: new Date(b.minute * 60_000).toISOString(),
      firstAt: b.first.toISOString(),
      lastAt: b.last.toISOString(),
      samples: b.samples,
    },
  };
}
