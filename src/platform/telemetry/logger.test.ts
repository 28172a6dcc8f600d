import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cachedIsoTime, createLogger, makeScrubber } from './logger.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

describe('makeScrubber', () => {
  it('masks configured secret values, rmp_ keys and bearer tokens', () => {
    const scrub = makeScrubber(['s3cret-value-123', 'abc']);
    expect(
      scrub('a s3cret-value-123 b rmp_abcdefghijklmnop1234 c Bearer eyJhbGciOi.xyz d abc'),
    ).toBe('a [REDACTED] b rmp_[REDACTED] c Bearer [REDACTED] d abc');
    expect(scrub('BEARER abcdefghij and bearer\tklmnopqrst')).toBe(
      'BEARER [REDACTED] and bearer\t[REDACTED]',
    );
  });

  it('masks the longer of two overlapping secrets whole', () => {
    const scrub = makeScrubber(['password1', 'password1-and-more']);
    expect(scrub('x password1-and-more y')).toBe('x [REDACTED] y');
  });

  it('masks a secret as it appears JSON-escaped inside a log line', () => {
    const secret = 'tok"en\\with-quotes';
    const scrub = makeScrubber([secret]);
    const line = JSON.stringify({ msg: `failed with ${secret}` });
    expect(line).not.toContain(secret);
    expect(scrub(line)).toBe(JSON.stringify({ msg: 'failed with [REDACTED]' }));
  });
});

describe('cachedIsoTime', () => {
  afterEach(() => vi.useRealTimers());

  it("formats as pino's isoTime and follows the clock to the millisecond", () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-04T10:00:00.001Z'));
    expect(cachedIsoTime()).toBe(',"time":"2026-12-04T10:00:00.001Z"');
    expect(cachedIsoTime()).toBe(pino.stdTimeFunctions.isoTime());
    vi.setSystemTime(new Date('2026-12-04T10:00:00.002Z'));
    expect(cachedIsoTime()).toBe(',"time":"2026-12-04T10:00:00.002Z"');
    // A clock stepped backwards is followed too.
    vi.setSystemTime(new Date('2026-12-04T09:59:59.999Z'));
    expect(cachedIsoTime()).toBe(',"time":"2026-12-04T09:59:59.999Z"');
  });
});

describe('createLogger', () => {
  it('redacts credential fields by path and scrubs secret values in messages and errors', async () => {
    const sink = new Sink();
    const secret = 'postgres-password-xyz';
    const log = createLogger({ level: 'info', secretValues: [secret], destination: sink });
    log.info(
      {
        req: { headers: { authorization: 'Basic dXNlcjpwYXNz', cookie: 'session=abc123' } },
        body: { password: 'hunter22', apiKey: 'plain-api-key', nested: { token: 'tkn-1234' } },
      },
      'incoming',
    );
    log.error({ err: new Error(`connect postgres://app:${secret}@db/x failed`) }, 'db down');
    log.flush();
    const lines = sink.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'incoming',
      req: { headers: { authorization: '[REDACTED]', cookie: '[REDACTED]' } },
      body: { password: '[REDACTED]', apiKey: '[REDACTED]' },
    });
    expect((lines[1]?.err as { message: string }).message).toBe(
      'connect postgres://app:[REDACTED]@db/x failed',
    );
    for (const s of ['dXNlcjpwYXNz', 'abc123', 'hunter22', 'plain-api-key', secret])
      expect(sink.text).not.toContain(s);
  });
});
