import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

// Addresses a tenant-configured provider must not reach unless the operator allows it: the host
// itself, private networks, link-local (cloud metadata at 169.254.169.254), CGNAT, multicast,
// documentation and reserved ranges. IPv4-mapped IPv6 is unwrapped before the check.
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
  ['::', 127],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  NON_PUBLIC.addSubnet(net, bits, 'ipv6');

/** Whether an IP address (v4 or v6) is on the public internet. */
export function isPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped?.[1] ?? address;
  const family = isIP(ip);
  if (family === 0) return false;
  return !NON_PUBLIC.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** The connection was refused by the address guard (not a network failure: never retried). */
export class BlockedUpstreamAddress extends Error {
  readonly code = 'ERR_RAMPART_BLOCKED_ADDRESS';
  constructor(host: string, address: string) {
    super(`${host} resolves to ${address}, which is not a public address`);
    this.name = 'BlockedUpstreamAddress';
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
    if (bad) return cb(new BlockedUpstreamAddress(hostname, bad.address), []);
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
