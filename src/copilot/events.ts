import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { z } from 'zod';

/**
 * Tells listeners that a run has new events (its id and latest sequence number). The events
 * themselves are always read from the database, under the reader's RLS: the bus carries no
 * content, so nothing a subscriber may not see travels on it. In-process without Redis; with
 * REDIS_URL, over Redis pub/sub so a stream or a WebSocket on any replica hears a run
 * driven by any worker. Readers also poll, so a lost notification only delays an event.
 */
export interface RunEventBus {
  publish(runId: string, seq: number): void;
  /** Calls `listener` with each new sequence number of the run; returns the unsubscribe. */
  subscribe(runId: string, listener: (seq: number) => void): () => void;
  /**
   * A token delta of a run's model step: ephemeral (never in the log), so it is the one thing
   * that travels with content. Only realtime connections that were shown, under their own RLS,
   * to see the run subscribe to it; a lost delta costs nothing (the step's message is logged).
   */
  publishDelta(runId: string, delta: RunDelta): void;
  subscribeDeltas(runId: string, listener: (delta: RunDelta) => void): () => void;
  close(): Promise<void>;
}

/** Text the model produced so far in step `step` (after event `afterSeq`). */
export interface RunDelta {
  step: number;
  afterSeq: number;
  text: string;
}

const CHANNEL = 'rampart:copilot:run-events';
const DELTA_CHANNEL = 'rampart:copilot:run-deltas';
const deltaKey = (runId: string) => `delta:${runId}`;

const DeltaMessage = z.object({
  runId: z.string(),
  step: z.number().int(),
  afterSeq: z.number().int(),
  text: z.string(),
});

function parseDelta(message: string): { runId: string; delta: RunDelta } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  const parsed = DeltaMessage.safeParse(value);
  if (!parsed.success) return undefined;
  const { runId, ...delta } = parsed.data;
  return { runId, delta };
}

export class LocalRunEventBus implements RunEventBus {
  protected readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(runId: string, seq: number): void {
    this.emitter.emit(runId, seq);
  }

  subscribe(runId: string, listener: (seq: number) => void): () => void {
    this.emitter.on(runId, listener);
    return () => this.emitter.off(runId, listener);
  }

  publishDelta(runId: string, delta: RunDelta): void {
    this.emitter.emit(deltaKey(runId), delta);
  }

  subscribeDeltas(runId: string, listener: (delta: RunDelta) => void): () => void {
    this.emitter.on(deltaKey(runId), listener);
    return () => this.emitter.off(deltaKey(runId), listener);
  }

  close(): Promise<void> {
    this.emitter.removeAllListeners();
    return Promise.resolve();
  }
}

export class RedisRunEventBus extends LocalRunEventBus {
  #sub: Redis | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly onError: (err: unknown) => void,
  ) {
    super();
  }

  #subscriber(): Redis {
    if (!this.#sub) {
      const sub = this.redis.duplicate();
      sub.on('message', (channel: string, message: string) => {
        if (channel === DELTA_CHANNEL) {
          const d = parseDelta(message);
          if (d) this.emitter.emit(deltaKey(d.runId), d.delta);
          return;
        }
        const at = message.lastIndexOf(':');
        const seq = Number(message.slice(at + 1));
        if (at > 0 && Number.isInteger(seq)) this.emitter.emit(message.slice(0, at), seq);
      });
      sub.on('error', (err) => this.onError(err));
      sub.subscribe(CHANNEL, DELTA_CHANNEL).catch((err: unknown) => this.onError(err));
      this.#sub = sub;
    }
    return this.#sub;
  }

  override publish(runId: string, seq: number): void {
    this.redis.publish(CHANNEL, `${runId}:${seq}`).catch((err: unknown) => this.onError(err));
  }

  override subscribe(runId: string, listener: (seq: number) => void): () => void {
    this.#subscriber();
    return super.subscribe(runId, listener);
  }

  override publishDelta(runId: string, delta: RunDelta): void {
    this.redis
      .publish(DELTA_CHANNEL, JSON.stringify({ runId, ...delta }))
      .catch((err: unknown) => this.onError(err));
  }

  override subscribeDeltas(runId: string, listener: (delta: RunDelta) => void): () => void {
    this.#subscriber();
    return super.subscribeDeltas(runId, listener);
  }

  override async close(): Promise<void> {
    await super.close();
    if (this.#sub) await this.#sub.quit().catch(() => this.#sub?.disconnect());
  }
}

export function createRunEventBus(
  redis: Redis | undefined,
  onError: (err: unknown) => void,
): RunEventBus {
  return redis ? new RedisRunEventBus(redis, onError) : new LocalRunEventBus();
}
