import { describe, expect, it } from 'vitest';
import { SseParser, sseData } from './sse.js';

describe('SseParser', () => {
  it('parses events split at every byte boundary, with CRLF, comments and event names', () => {
    const text =
      ': keep-alive\r\nevent: message_start\r\ndata: {"a":1}\r\n\r\ndata: line1\ndata: line2\n\ndata: {"t":"héllo"}\n\n';
    const bytes = new TextEncoder().encode(text);
    const parser = new SseParser();
    const events = [];
    for (const b of bytes) events.push(...parser.push(new Uint8Array([b])));
    events.push(...parser.end());
    expect(events).toEqual([
      { event: 'message_start', data: '{"a":1}' },
      { event: undefined, data: 'line1\nline2' },
      { event: undefined, data: '{"t":"héllo"}' },
    ]);
  });

  it('delivers a final event that lacks its blank line', () => {
    const p = new SseParser();
    expect(p.push('data: [DONE]')).toEqual([]);
    expect(p.end()).toEqual([{ event: undefined, data: '[DONE]' }]);
  });

  it('frames data events', () => {
    expect(sseData('{"x":1}')).toBe('data: {"x":1}\n\n');
  });
});
