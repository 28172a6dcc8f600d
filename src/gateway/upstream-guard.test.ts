import { describe, expect, it } from 'vitest';
import { blockedLiteral, guardedLookup, isPublicAddress } from './upstream-guard.js';

describe('upstream address guard', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    'not-an-ip',
  ])('refuses %s', (ip) => expect(isPublicAddress(ip)).toBe(false));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows %s',
    (ip) => expect(isPublicAddress(ip)).toBe(true),
  );

  it('finds literal non-public hosts in URLs, including bracketed IPv6', () => {
    expect(blockedLiteral('http://127.0.0.1:8080/v1')).toBe('127.0.0.1');
    expect(blockedLiteral('http://[::1]:8080/v1')).toBe('::1');
    // Shorthand and hex IPv4 forms are normalised by the URL parser, as undici dials them.
    expect(blockedLiteral('http://0x7f.1:8080/v1')).toBe('127.0.0.1');
    expect(blockedLiteral('http://2130706433/v1')).toBe('127.0.0.1');
    expect(blockedLiteral('https://8.8.8.8/v1')).toBeUndefined();
    expect(blockedLiteral('https://api.openai.com/v1')).toBeUndefined();
  });

  it('refuses a name that resolves to loopback at connect time', async () => {
    const err = await new Promise<unknown>((resolve) =>
      guardedLookup('localhost', {}, (e) => resolve(e)),
    );
    expect((err as Error).message).toMatch(/localhost resolves to .* not a public address/);
  });
});
