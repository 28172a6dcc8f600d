import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { StreamTranslator } from './providers/types.js';
import type { CancelSignal } from './cancel.js';
import { SseParser, sseData } from './sse.js';
import { UpstreamClient, UpstreamUnavailable, type UpstreamResponse } from './upstream.js';

/**
 * Relays an upstream stream to the client as OpenAI SSE (`data: …\n\n`, then `data: [DONE]`),
 * translating event by event. `onEnd` gets the final status exactly once: 200, 502/504 when
 * the upstream failed mid-stream, 499 when the client went away (the upstream is aborted),
 * and the chunk payloads sent (kept by reference, to estimate usage when the upstream reported
 * none). `onFirstChunk` marks the first content the client receives (time to first token).
 */
export function relayStream(opts: {
  res: UpstreamResponse;
  translator: StreamTranslator;
  signal: CancelSignal;
  logger: Logger;
  requestId: string;
  onFirstChunk?(): void;
  onEnd(status: number, sent: readonly string[]): void;
}): Readable {
  const { res, translator, signal } = opts;
  async function* frames(): AsyncGenerator<string> {
    const parser = new SseParser();
    let status = 499; // stays so if the client goes away mid-stream
    const sent: string[] = [];
    const first = opts.onFirstChunk;
    const frame = (p: string): string => {
      if (sent.length === 0) first?.();
      sent.push(p);
      return sseData(p);
    };
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        // One write per upstream chunk, however many events it held (fewer syscalls).
        let out = '';
        for (const ev of parser.push(chunk)) for (const p of translator.push(ev)) out += frame(p);
        if (out) yield out;
      }
      for (const ev of parser.end()) for (const p of translator.push(ev)) yield frame(p);
      for (const p of translator.end()) yield frame(p);
      status = translator.error ? 502 : 200;
      yield sseData('[DONE]');
    } catch (err) {
      if (signal.aborted) return;
      // Bytes already reached the client: no retry now; end the stream with an error event.
      const failure = UpstreamClient.classify(err);
      status = failure instanceof UpstreamUnavailable && failure.kind === 'timeout' ? 504 : 502;
      opts.logger.warn(
        { err: { message: (err as Error).message }, requestId: opts.requestId },
        'upstream stream failed',
      );
      yield sseData(
        JSON.stringify({
          error: {
            message: 'The upstream stream failed before completing.',
            type: 'api_error',
            code: 'upstream_stream_failed',
          },
        }),
      );
    } finally {
      if (!res.body.destroyed) res.body.destroy();
      opts.onEnd(status, sent);
    }
  }
  return Readable.from(frames(), { objectMode: false });
}
