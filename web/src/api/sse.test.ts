import { describe, expect, it } from 'vitest';
import { sseData } from './sse';

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(bytes.encode(p));
      c.close();
    },
  });
}

describe('sseData', () => {
  it('yields each event’s data across arbitrary chunk boundaries and CRLF framing', async () => {
    const out: string[] = [];
    for await (const d of sseData(
      streamOf([
        'data: {"a"',
        ':1}\n\n: comment\n\nevent: x\r\ndata: two\r\ndata: lines\r\n\r\n',
        'data: [DONE]\n\n',
      ]),
    ))
      out.push(d);
    expect(out).toEqual(['{"a":1}', 'two\nlines', '[DONE]']);
  });
});
