import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed content is
 * `${id}.${timestamp}.${body}`, the key is the base64 part of a `whsec_…` secret, and the
 * `webhook-signature` header lists `v1,<base64 HMAC-SHA256>` entries separated by spaces, one
 * per secret in use (two while a rotation overlaps), so receivers verify with existing libraries.
 */

const PREFIX = 'whsec_';
/** 24 to 64 random bytes, base64: what a `whsec_` secret given by a tenant must hold. */
const SECRET = /^whsec_([A-Za-z0-9+/]{32,88}={0,2})$/;

/** A new random signing secret (32 bytes). */
export function generateSigningSecret(): string {
  return `${PREFIX}${randomBytes(32).toString('base64')}`;
}

/** True when `secret` is a `whsec_` secret of 24 to 64 bytes. */
export function isSigningSecret(secret: string): boolean {
  const m = SECRET.exec(secret);
  if (!m?.[1]) return false;
  const bytes = Buffer.from(m[1], 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

/** The `v1,<signature>` entry of one secret for one message. */
export function signatureEntry(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): string {
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers for a message signed with every given secret. */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signatureEntry(s, id, timestamp, body)).join(' '),
  };
}
