import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * A pruning checkpoint: where a tenant's chain starts after retention deleted its oldest events
 * (the seq and hash of the last pruned event), signed so whoever can write the database cannot
 * move the start of the chain. See docs/decisions/018-retention-and-offboarding.md.
 */
export interface AuditCheckpoint {
  tenantId: string;
  seq: number;
  hash: string;
}

// A key of its own, derived from the server secret like the head key (head.ts), so a checkpoint
// signature can never pass for a head signature or an API-key HMAC.
function checkpointKey(serverSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, '', 'rampart audit checkpoint v1', 32));
}

function signedText(c: AuditCheckpoint): string {
  return `rampart-audit-checkpoint-v1\n${c.tenantId}\n${c.seq}\n${c.hash}`;
}

/** HMAC-SHA256 (hex) of a checkpoint under the key derived from the server secret. */
export function signCheckpoint(serverSecret: string, c: AuditCheckpoint): string {
  return createHmac('sha256', checkpointKey(serverSecret)).update(signedText(c)).digest('hex');
}

/** Whether a stored checkpoint's signature was made with this server secret. */
export function checkpointSignatureValid(
  serverSecret: string,
  c: AuditCheckpoint,
  sig: string,
): boolean {
  const expected = Buffer.from(signCheckpoint(serverSecret, c), 'hex');
  const given = Buffer.from(/^[0-9a-f]{64}$/.test(sig) ? sig : '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
