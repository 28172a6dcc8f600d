import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { Principal } from '../../platform/http/principal.js';
import type { RunDelta, RunEventBus } from '../events.js';
import type { RealtimeMetrics } from '../metrics.js';
import type { RunService } from '../runs-service.js';
import { OutboundQueue, type Outgoing } from './outbound-queue.js';

export interface RealtimeOptions {
  /** Frames one connection may have waiting; full of state events, it is closed with 1013. */
  queueMax: number;
  /** Bytes the socket may hold unsent before frames wait in the queue instead. */
  bufferBytes: number;
  /** Runs one connection may follow at once. */
  maxSubscriptions: number;
}

/** What a client sends: follow a run from a sequence number on, or stop following it. */
export const ClientMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('subscribe'),
    runId: z.uuid(),
    after: z.number().int().min(0).optional(),
  }),
  z.object({ type: z.literal('unsubscribe'), runId: z.uuid() }),
]);

/** Where tenants stand: a disabled tenant's sockets are closed (identity's DisabledTenants). */
export interface TenantStanding {
  onDisabled(listener: (tenantId: string) => void): () => void;
}

/** 1008 "policy violation": the tenant was disabled while the socket was open. */
const CLOSE_TENANT_DISABLED = 1008;

/** 1013 "try again later": the client read too slowly; it reconnects and resumes from its seq. */
export const CLOSE_TOO_SLOW = 1013;
const OPEN = 1;
const RETRY_MS = 20;

interface Subscription {
  last: number;
  reading: boolean;
  again: boolean;
  timer: NodeJS.Timeout | undefined;
  stop: () => void;
}

/**
 * One /v1/realtime connection. Each run it follows is read from the log under the connection's
 * principal (RLS decides what it may see), woken by the event bus (any replica's worker, with
 * Redis) and by a poll. Frames leave through a bounded queue (outbound-queue.ts): under
 * backpressure deltas are dropped, state events never; a client too slow for that is closed
 * with 1013 and resumes by subscribing with `after` = the last seq it received.
 */
export class RealtimeConnection {
  readonly #subs = new Map<string, Subscription>();
  readonly #queue: OutboundQueue;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #offStanding: (() => void) | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly principal: Principal,
    private readonly deps: {
      runs: RunService;
      bus: RunEventBus;
      metrics: RealtimeMetrics;
      options: RealtimeOptions;
      tenantStanding?: TenantStanding | undefined;
    },
  ) {
    this.#queue = new OutboundQueue(deps.options.queueMax);
    // Credentials are checked at the upgrade; a tenant disabled afterwards ends the socket too.
    this.#offStanding = deps.tenantStanding?.onDisabled((tenantId) => {
      if (tenantId !== principal.tenantId || this.#closed) return;
      socket.close(CLOSE_TENANT_DISABLED, 'the tenant was disabled');
      this.#close();
    });
    deps.metrics.connections.inc();
    socket.on('message', (data, isBinary) => {
      if (isBinary) return this.#error('invalid_message', 'Messages are JSON text.');
      void this.#onMessage(data.toString());
    });
    socket.on('close', () => this.#close());
    socket.on('error', () => this.#close());
  }

  async #onMessage(text: string): Promise<void> {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.#error('invalid_message', 'Messages are JSON.');
    }
    const parsed = ClientMessage.safeParse(value);
    if (!parsed.success)
      return this.#error(
        'invalid_message',
        'Send {"type":"subscribe","runId":"…","after"?:seq} or {"type":"unsubscribe","runId":"…"}.',
      );
    const msg = parsed.data;
    if (msg.type === 'unsubscribe') return this.#unsubscribe(msg.runId);
    if (this.#subs.has(msg.runId)) return;
    if (this.#subs.size >= this.deps.options.maxSubscriptions)
      return this.#error(
        'too_many_subscriptions',
        `A connection follows at most ${this.deps.options.maxSubscriptions} runs.`,
        msg.runId,
      );
    await this.#subscribe(msg.runId, msg.after ?? 0);
  }

  async #subscribe(runId: string, after: number): Promise<void> {
    // Visibility first, under the caller's RLS: a run it may not see is "not found", and
    // nothing of it (not even its deltas) is ever subscribed to.
    const first = await this.deps.runs.readSince(this.principal, runId, after);
    if (this.#closed || this.#subs.has(runId)) return;
    if (!first) return this.#error('not_found', 'Run not found.', runId);
    const offDeltas = this.deps.bus.subscribeDeltas(runId, (d) => this.#delta(runId, d));
    const offEvents = this.deps.bus.subscribe(runId, () => void this.#read(runId));
    const sub: Subscription = {
      last: after,
      reading: false,
      again: false,
      timer: undefined,
      stop: () => {
        offDeltas();
        offEvents();
        clearTimeout(sub.timer);
      },
    };
    this.#subs.set(runId, sub);
    this.#enqueue({ kind: 'state', frame: JSON.stringify({ type: 'subscribed', runId, after }) });
    this.#deliver(runId, sub, first);
  }

  #unsubscribe(runId: string): void {
    this.#subs.get(runId)?.stop();
    this.#subs.delete(runId);
  }

  /** Reads what the log holds past the last delivered event; one read at a time per run. */
  async #read(runId: string): Promise<void> {
    const sub = this.#subs.get(runId);
    if (!sub || this.#closed) return;
    if (sub.reading) {
      sub.again = true;
      return;
    }
    sub.reading = true;
    try {
      do {
        sub.again = false;
        const read = await this.deps.runs.readSince(this.principal, runId, sub.last);
        if (this.#closed || this.#subs.get(runId) !== sub) return;
        if (!read) return this.#unsubscribe(runId);
        this.#deliver(runId, sub, read);
      } while (sub.again);
    } catch {
      // A failed read (database restart) is retried by the poll.
    } finally {
      sub.reading = false;
    }
  }

  #deliver(
    runId: string,
    sub: Subscription,
    read: { events: { seq: number }[]; ended: boolean },
  ): void {
    for (const event of read.events) {
      if (event.seq <= sub.last) continue;
      sub.last = event.seq;
      if (!this.#enqueue({ kind: 'state', frame: JSON.stringify({ type: 'event', runId, event }) }))
        return;
    }
    if (read.ended) {
      this.#enqueue({ kind: 'state', frame: JSON.stringify({ type: 'ended', runId }) });
      return this.#unsubscribe(runId);
    }
    clearTimeout(sub.timer);
    sub.timer = setTimeout(() => void this.#read(runId), this.deps.runs.pollMs);
    sub.timer.unref();
  }

  #delta(runId: string, d: RunDelta): void {
    const sub = this.#subs.get(runId);
    // A delta of a step whose message is already delivered is stale.
    if (!sub || d.afterSeq < sub.last) return;
    this.#enqueue({ kind: 'delta', frame: JSON.stringify({ type: 'delta', runId, ...d }) });
  }

  #error(code: string, message: string, runId?: string): void {
    this.#enqueue({
      kind: 'state',
      frame: JSON.stringify({ type: 'error', code, message, runId }),
    });
  }

  /** Queues a frame and sends what the socket takes; false when the connection was closed. */
  #enqueue(item: Outgoing): boolean {
    if (this.#closed) return false;
    const pushed = this.#queue.push(item);
    if (pushed.dropped) this.deps.metrics.droppedDeltas.inc(pushed.dropped);
    if (!pushed.ok) {
      this.deps.metrics.slowClosed.inc();
      this.socket.close(CLOSE_TOO_SLOW, 'too slow: reconnect and resume from your last seq');
      this.#close();
      return false;
    }
    this.#flush();
    return true;
  }

  #flush(): void {
    while (
      !this.#closed &&
      this.#queue.length > 0 &&
      this.socket.readyState === OPEN &&
      this.socket.bufferedAmount < this.deps.options.bufferBytes
    ) {
      const item = this.#queue.shift();
      if (!item) break;
      this.socket.send(item.frame, (err) => {
        if (err) this.deps.metrics.sendErrors.inc();
      });
    }
    // The socket is full: try again shortly (ws has no drain event of its own).
    if (!this.#closed && this.#queue.length > 0 && !this.#flushTimer) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flush();
      }, RETRY_MS);
      this.#flushTimer.unref();
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offStanding?.();
    clearTimeout(this.#flushTimer);
    for (const sub of this.#subs.values()) sub.stop();
    this.#subs.clear();
    this.deps.metrics.connections.dec();
  }
}
