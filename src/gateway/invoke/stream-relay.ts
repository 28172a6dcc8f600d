import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { StreamTranslator } from '../providers/types.js';
import type { CancelSignal } from './cancel.js';
import { SseParser, sseData } from './sse.js';
import { UpstreamClient, UpstreamUnavailable, type UpstreamResponse } from './upstream.js';

interface RelayOptions {
  res: UpstreamResponse;
  translator: StreamTranslator;
  signal: CancelSignal;
  logger: Logger;
  requestId: string;
  onFirstChunk?(): void;
  onEnd(status: number, sent: readonly string[]): void;
}

const STREAM_FAILED = sseData(
  JSON.stringify({
    error: {
      message: 'The upstream stream failed before completing.',
      type: 'api_error',
      code: 'upstream_stream_failed',
    },
  }),
);

/**
 * Relays an upstream stream to the client as OpenAI SSE (`data: …\n\n`, then `data: [DONE]`),
 * translating event by event. `onEnd` gets the final status exactly once: 200, 502/504 when
 * the upstream failed mid-stream, 499 when the client went away (the upstream is aborted),
 * and the chunk payloads sent (kept by reference, to estimate usage when the upstream reported
 * none). `onFirstChunk` marks the first content the client receives (time to first token).
 */
export function relayStream(opts: RelayOptions): Readable {
  return new SseRelay(opts);
}

/**
 * Driven by the upstream body's own events rather than an async iterator: a chunk that arrives
 * while the client's socket keeps up is translated and written in the same tick (no promise
 * hops between the upstream socket and the client's). Backpressure pauses the upstream body;
 * the client reading again resumes it.
 */
class SseRelay extends Readable {
  readonly #opts: RelayOptions;
  readonly #parser = new SseParser();
  readonly #sent: string[] = [];
  #done = false;

  constructor(opts: RelayOptions) {
    super();
    this.#opts = opts;
    const body = opts.res.body;
    body.on('data', (chunk: Buffer) => this.#chunk(chunk));
    body.once('end', () => this.#end());
    // Kept for the body's life: an error after the relay finished must not go unhandled.
    body.on('error', (err: Error) => this.#fail(err));
  }

  override _read(): void {
    const body = this.#opts.res.body;
    if (body.isPaused()) body.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // The client went away (or the response was torn down): stop the upstream too.
    this.#finish(499);
    callback(err);
  }

  #frames(payloads: Iterable<string>, out: string): string {
    const sent = this.#sent;
    for (const p of payloads) {
      if (sent.length === 0) this.#opts.onFirstChunk?.();
      sent.push(p);
      out += sseData(p);
    }
    return out;
  }

  #chunk(chunk: Buffer): void {
    if (this.#done) return;
    const { translator } = this.#opts;
    // One write per upstream chunk, however many events it held (fewer syscalls).
    let out = '';
    for (const ev of this.#parser.push(chunk)) out = this.#frames(translator.push(ev), out);
    if (out && !this.push(out)) this.#opts.res.body.pause();
  }

  #end(): void {
    if (this.#done) return;
    const { translator } = this.#opts;
    let out = '';
    for (const ev of this.#parser.end()) out = this.#frames(translator.push(ev), out);
    out = this.#frames(translator.end(), out);
    this.#close(out + sseData('[DONE]'), translator.error ? 502 : 200);
  }

  #fail(err: Error): void {
    if (this.#done) return;
    if (this.#opts.signal.aborted) {
      this.#close('', 499);
      return;
    }
    // Bytes already reached the client: no retry now; end the stream with an error event.
    const failure = UpstreamClient.classify(err);
    const status = failure instanceof UpstreamUnavailable && failure.kind === 'timeout' ? 504 : 502;
    this.#opts.logger.warn(
      { err: { message: err.message }, requestId: this.#opts.requestId },
      'upstream stream failed',
    );
    this.#close(STREAM_FAILED, status);
  }

  /** The last bytes, then the outcome is recorded, then the response ends. */
  #close(last: string, status: number): void {
    if (last && !this.destroyed) this.push(last);
    this.#finish(status);
    if (!this.destroyed) this.push(null);
  }

  #finish(status: number): void {
    if (this.#done) return;
    this.#done = true;
    const body = this.#opts.res.body;
    if (!body.destroyed) body.destroy();
    this.#opts.onEnd(status, this.#sent);
  }
}
