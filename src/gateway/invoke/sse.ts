/** One server-sent event: its `event:` name (if any) and its data lines joined by "\n". */
export interface SseEvent {
  event: string | undefined;
  data: string;
}

/**
 * An incremental parser for text/event-stream (the WHATWG framing): bytes may split anywhere,
 * including inside a multi-byte character or between "\r" and "\n"; events end at a blank line.
 */
export class SseParser {
  readonly #decoder = new TextDecoder();
  #buffer = '';
  #data: string[] = [];
  #event: string | undefined;

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: Uint8Array | string): SseEvent[] {
    this.#buffer +=
      typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    return this.#drain(false);
  }

  /** Ends the stream; an event without its closing blank line is still delivered. */
  end(): SseEvent[] {
    this.#buffer += this.#decoder.decode();
    const events = this.#drain(true);
    if (this.#data.length > 0) events.push(this.#dispatch() as SseEvent);
    return events;
  }

  #drain(final: boolean): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const lf = this.#buffer.indexOf('\n', start);
      const cr = this.#buffer.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A lone "\r" at the end of the chunk may be the first half of "\r\n": wait for more.
        if (cr === this.#buffer.length - 1 && !final) break;
        end = cr;
        next = this.#buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      const line = this.#buffer.slice(start, end);
      start = next;
      if (line === '') {
        const ev = this.#dispatch();
        if (ev) events.push(ev);
        continue;
      }
      if (line.startsWith(':')) continue; // a comment (keep-alive)
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.#data.push(value);
      else if (field === 'event') this.#event = value;
    }
    this.#buffer = this.#buffer.slice(start);
    if (final && this.#buffer !== '') {
      const rest = this.#buffer;
      this.#buffer = '';
      if (rest.startsWith('data:')) this.#data.push(rest.slice(5).replace(/^ /, ''));
    }
    return events;
  }

  #dispatch(): SseEvent | undefined {
    const ev =
      this.#data.length > 0 ? { event: this.#event, data: this.#data.join('\n') } : undefined;
    this.#data = [];
    this.#event = undefined;
    return ev;
  }
}

/** Frames one payload as an SSE `data:` event. */
export function sseData(payload: string): string {
  return `data: ${payload}\n\n`;
}
