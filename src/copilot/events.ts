import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * Tells listeners that a run has new events (its id and latest sequence number). The events
 * themselves are always read from the database, under the reader's RLS: the bus carries no
 * content, so nothing a subscriber may not see travels on it. In-process without Redis; with
 * REDIS_URL, over Redis pub/sub so a stream (or, later, a WebSocket) on any replica hears a run
 * driven by any worker. Readers also poll, so a lost notification only delays an event.
 */
export interface RunEventBus {
  publish(runId: string, seq: number): void;
  /** Calls `listener` with each new sequence number of the run; returns the unsubscribe. */
  subscribe(runId: string, listener: (seq: number) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'rampart:copilot:run-events';

export class LocalRunEventBus implements RunEventBus {
  protected readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(runId: string, seq: number): void {
    this.emitter.emit(runId, seq);
  }

  subscribe(runId: string, listener: (seq: number) => void): () => void {
    this.emitter.on(runId, listener);
    return () => this.emitter.off(runId, listener);
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
      sub.on('message', (_channel: string, message: string) => {
        const at = message.lastIndexOf(':');
        const seq = Number(message.slice(at + 1));
        if (at > 0 && Number.isInteger(seq)) this.emitter.emit(message.slice(0, at), seq);
      });
      sub.on('error', (err) => this.onError(err));
      sub.subscribe(CHANNEL).catch((err: unknown) => this.onError(err));
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
