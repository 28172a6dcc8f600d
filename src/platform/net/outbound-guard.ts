import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

// Addresses a tenant-configured provider must not reach unless the operator allows it: the host
// itself, private networks, link-local (cloud metadata at 169.254.169.254), CGNAT, multicast,
// documentation and reserved ranges. IPv6 forms that embed an IPv4 address are judged as that
// address (see embeddedIPv4).
const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv6');

/** Whether an IP address (v4 or v6) is on the public internet. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !NON_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return false;
  const groups = ipv6Groups(address);
  if (!groups) return false;
  const embedded = embeddedIPv4(groups);
  if (embedded.length > 0) return embedded.every((ip) => !NON_PUBLIC.check(ip, 'ipv4'));
  return !NON_PUBLIC.check(address, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (any spelling: `::`, hex, trailing dotted quad). */
export function ipv6Groups(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '').toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): number[] =>
    part ? part.split(':').map((g) => Number.parseInt(g, 16)) : [];
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<number>(Math.max(fill, 0)).fill(0), ...tail];
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  return groups;
}

function ipv4Of(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/**
 * The IPv4 addresses an IPv6 address carries, in the forms that reach that IPv4 host: a socket
 * to `[::127.0.0.1]` or `[2002:7f00:1::]` is a socket to loopback on a host that routes them.
 * Candidates, not one answer: where a prefix admits two layouts, both are returned and all must
 * be public.
 */
export function embeddedIPv4(g: readonly number[]): string[] {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d (:: and ::1 become 0.0.0.0/8).
  if (upperZero && (g5 === 0xffff || g5 === 0)) return [ipv4Of(g6, g7)];
  // 6to4, 2002:AABB:CCDD::/16.
  if (g0 === 0x2002) return [ipv4Of(g1, g2)];
  // Teredo, 2001:0000::/32: the client's address is the last 32 bits, inverted.
  if (g0 === 0x2001 && g1 === 0) return [ipv4Of(g6 ^ 0xffff, g7 ^ 0xffff)];
  if (g0 === 0x64 && g1 === 0xff9b) {
    // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
    if (g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return [ipv4Of(g6, g7)];
    // Local-use NAT64 64:ff9b:1::/48 (RFC 8215): the /48 layout puts the address in bits
    // 48-63 and 72-87 (skipping the u octet); a network may also use a /96 inside it.
    if (g2 === 1) return [ipv4Of(g3, ((g4 & 0xff) << 8) | (g5 >> 8)), ipv4Of(g6, g7)];
  }
  return [];
}

/** The connection was refused by the address guard (not a network failure: never retried). */
export class BlockedOutboundAddress extends Error {
  readonly code = 'ERR_RAMPART_BLOCKED_ADDRESS';
  constructor(host: string, address: string) {
    super(`${host} resolves to ${address}, which is not a public address`);
    this.name = 'BlockedOutboundAddress';
  }
}

/** The non-public address a literal-IP URL points at, if any (hostnames are checked at connect time). */
export function blockedLiteral(url: string | URL): string | undefined {
  const host = (typeof url === 'string' ? new URL(url) : url).hostname.replace(/^\[|\]$/g, '');
  return isIP(host) !== 0 && !isPublicAddress(host) ? host : undefined;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `dns.lookup` for the connector of tenant providers: the name is resolved once and the socket
 * goes to that very address, so a DNS answer that changes between check and connect (rebinding)
 * cannot slip through.
 */
export function guardedLookup(hostname: string, options: LookupOptions, cb: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return cb(err, []);
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad) return cb(new BlockedOutboundAddress(hostname, bad.address), []);
    if (options.all) return cb(null, addresses);
    const first = addresses[0];
    if (!first)
      return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
    cb(null, first.address, first.family);
  });
}

/** Resolves a base URL's host now and names the first non-public address it has, if any. */
export async function nonPublicAddressOf(url: string): Promise<string | undefined> {
  const literal = blockedLiteral(url);
  if (literal) return literal;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return undefined;
  return new Promise((resolve) => {
    dnsLookup(host, { all: true }, (err, addresses) => {
      // Unresolvable now: the connect-time guard still applies when it resolves.
      if (err) return resolve(undefined);
      resolve(addresses.find((a) => !isPublicAddress(a.address))?.address);
    });
  });
}
