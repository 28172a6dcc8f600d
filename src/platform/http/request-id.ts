import { randomUUID } from 'node:crypto';

/** The shape of a UUIDv7: version 7, RFC 9562 variant, lower-case hex. */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let prefixMs = -1;
let prefix = '';

/**
 * A new request id: a UUIDv7 (RFC 9562), 48 bits of Unix milliseconds then 74 random bits.
 * Time-ordered ids land on the right-hand edge of the usage ledger's (tenant_id, request_id)
 * index instead of on a random leaf: 8-26% less PostgreSQL CPU per ledger row than random v4
 * ids after a checkpoint (`npm run bench:ledger`). The time in an id also tells when the
 * request came.
 */
export function newRequestId(now: number = Date.now()): string {
  if (now !== prefixMs) {
    const hex = now.toString(16).padStart(12, '0');
    prefixMs = now;
    prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
  }
  // randomUUID() is xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx with the RFC variant bits in V; its
  // random tail from the version nibble on becomes rand_a, variant and rand_b.
  return prefix + randomUUID().slice(15);
}

/** Milliseconds since the epoch that a UUIDv7 request id was made at; undefined for other ids. */
export function requestIdTime(id: string): number | undefined {
  if (!UUID_V7.test(id)) return undefined;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
