/** A frame waiting to be sent: a state event (from the run's log) or a token delta. */
export interface Outgoing {
  kind: 'state' | 'delta';
  frame: string;
}

export type PushResult =
  /** Queued (possibly after dropping older deltas). */
  | { ok: true; dropped: number }
  /** Full of state events: the client is too slow to keep up and must reconnect and resume. */
  | { ok: false; dropped: number };

/**
 * The bounded outbound queue of one realtime connection. Under backpressure, token deltas are
 * dropped oldest-first (a delta is only a preview: the step's message is in the log); state
 * events are never dropped. When the queue is full and holds no delta, the push fails: the
 * connection is closed with 1013 and the client resumes from the last sequence number it saw.
 */
export class OutboundQueue {
  readonly #items: Outgoing[] = [];

  constructor(private readonly capacity: number) {}

  get length(): number {
    return this.#items.length;
  }

  push(item: Outgoing): PushResult {
    if (this.#items.length < this.capacity) {
      this.#items.push(item);
      return { ok: true, dropped: 0 };
    }
    const oldestDelta = this.#items.findIndex((i) => i.kind === 'delta');
    if (oldestDelta >= 0) {
      this.#items.splice(oldestDelta, 1);
      this.#items.push(item);
      return { ok: true, dropped: 1 };
    }
    // Full of state events: a new delta is the one to drop; a new state event cannot be.
    if (item.kind === 'delta') return { ok: true, dropped: 1 };
    return { ok: false, dropped: 0 };
  }

  shift(): Outgoing | undefined {
    return this.#items.shift();
  }
}
