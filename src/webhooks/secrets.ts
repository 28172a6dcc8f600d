import { z } from 'zod';
import type { Envelope, Keyring } from '../platform/secrets/envelope.js';

/** How an envelope is kept in a jsonb column: its binary fields as base64. */
const StoredEnvelope = z.object({
  keyId: z.string(),
  wrappedKey: z.string(),
  iv: z.string(),
  ciphertext: z.string(),
  tag: z.string(),
});

export function envelopeToJson(e: Envelope): z.infer<typeof StoredEnvelope> {
  return {
    keyId: e.keyId,
    wrappedKey: e.wrappedKey.toString('base64'),
    iv: e.iv.toString('base64'),
    ciphertext: e.ciphertext.toString('base64'),
    tag: e.tag.toString('base64'),
  };
}

function envelopeFromJson(v: unknown): Envelope {
  const s = StoredEnvelope.parse(v);
  return {
    keyId: s.keyId,
    wrappedKey: Buffer.from(s.wrappedKey, 'base64'),
    iv: Buffer.from(s.iv, 'base64'),
    ciphertext: Buffer.from(s.ciphertext, 'base64'),
    tag: Buffer.from(s.tag, 'base64'),
  };
}

/** Binds a secret's ciphertext to its endpoint: copied to another row, it does not decrypt. */
function context(tenantId: string, endpointId: string): string {
  return `webhook:${tenantId}:${endpointId}`;
}

/** Encrypts an endpoint's signing secret for storage. */
export function sealSecret(
  ring: Keyring,
  tenantId: string,
  endpointId: string,
  secret: string,
): z.infer<typeof StoredEnvelope> {
  return envelopeToJson(ring.encrypt(secret, context(tenantId, endpointId)));
}

/** Decrypts a stored signing secret. */
export function openSecret(
  ring: Keyring,
  tenantId: string,
  endpointId: string,
  stored: unknown,
): string {
  return ring.decrypt(envelopeFromJson(stored), context(tenantId, endpointId));
}
