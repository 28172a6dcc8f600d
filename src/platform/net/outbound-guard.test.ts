import { describe, expect, it } from 'vitest';
import {
  blockedLiteral,
  embeddedIPv4,
  guardedLookup,
  ipv6Groups,
  isPublicAddress,
} from './outbound-guard.js';

describe('outbound address guard', () => {
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

  // IPv6 forms that carry an IPv4 address are judged as that address, in every spelling.
  it.each([
    ['IPv4-compatible, dotted', '::127.0.0.1'],
    ['IPv4-compatible, hex', '::7f00:1'],
    ['IPv4-compatible, metadata', '::a9fe:a9fe'],
    ['IPv4-mapped, hex', '::ffff:7f00:1'],
    ['IPv4-mapped, long form', '0:0:0:0:0:ffff:7f00:0001'],
    ['IPv4-mapped, private', '::ffff:a00:1'],
    ['6to4 of 127.0.0.1', '2002:7f00:1::'],
    ['6to4 of 10.0.0.1, uppercase', '2002:A00:1:0:0:0:0:1'],
    ['6to4 of 169.254.169.254', '2002:a9fe:a9fe::1'],
    ['Teredo with client 127.0.0.1', '2001:0000:4136:e378:8000:63bf:80ff:fffe'],
    ['Teredo with client 192.168.1.1, short', '2001::3f57:fefe'],
    ['NAT64 well-known of 127.0.0.1', '64:ff9b::7f00:1'],
    ['NAT64 well-known, dotted', '64:ff9b::10.0.0.1'],
    ['NAT64 local-use /48 of 127.0.0.1', '64:ff9b:1:7f00:0:100::'],
    ['NAT64 local-use /96 of 192.168.0.1', '64:ff9b:1::c0a8:1'],
  ])('refuses %s (%s)', (_form, ip) => expect(isPublicAddress(ip)).toBe(false));

  it.each([
    ['IPv4-compatible of 8.8.8.8', '::808:808'],
    ['6to4 of 8.8.8.8', '2002:808:808::1'],
    ['Teredo with client 8.8.8.8', '2001:0:4136:e378:8000:63bf:f7f7:f7f7'],
    ['NAT64 well-known of 1.1.1.1', '64:ff9b::101:101'],
  ])('allows %s (%s)', (_form, ip) => expect(isPublicAddress(ip)).toBe(true));

  it('reads the embedded IPv4 address of each form', () => {
    const of = (ip: string): string[] => embeddedIPv4(ipv6Groups(ip) ?? []);
    expect(ipv6Groups('::ffff:127.0.0.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
    expect(of('::127.0.0.1')).toEqual(['127.0.0.1']);
    expect(of('2002:7f00:1::')).toEqual(['127.0.0.1']);
    expect(of('2001:0:4136:e378:8000:63bf:80ff:fffe')).toEqual(['127.0.0.1']);
    expect(of('64:ff9b::c0a8:101')).toEqual(['192.168.1.1']);
    expect(of('64:ff9b:1:c0a8:1:100::')).toEqual(['192.168.1.1', '0.0.0.0']);
    expect(of('2606:4700:4700::1111')).toEqual([]);
  });

  it('finds literal non-public hosts in URLs, including bracketed IPv6', () => {
    expect(blockedLiteral('http://127.0.0.1:8080/v1')).toBe('127.0.0.1');
    expect(blockedLiteral('http://[::1]:8080/v1')).toBe('::1');
    // Shorthand and hex IPv4 forms are normalised by the URL parser, as undici dials them.
    expect(blockedLiteral('http://0x7f.1:8080/v1')).toBe('127.0.0.1');
    expect(blockedLiteral('http://2130706433/v1')).toBe('127.0.0.1');
    // The URL parser rewrites these to hex groups; the guard still sees loopback inside.
    expect(blockedLiteral('http://[::127.0.0.1]/')).toBe('::7f00:1');
    expect(blockedLiteral('http://[2002:7f00:1::]/')).toBe('2002:7f00:1::');
    expect(blockedLiteral('http://[::ffff:127.0.0.1]:8080/')).toBe('::ffff:7f00:1');
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
