import { createHmac, randomBytes } from 'node:crypto';

const KEY_PREFIX = 'rmp_';
const KEY_RE = /^rmp_[A-Za-z0-9_-]{43}$/;
/** How much of a key is stored and shown to identify it (never enough to use it). */
const DISPLAY_LENGTH = 12;

/** A new API key: 256 random bits behind a readable `rmp_` prefix. */
export function generateApiKey(): { secret: string; prefix: string } {
  const secret = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { secret, prefix: secret.slice(0, DISPLAY_LENGTH) };
}

/** The stored, displayable prefix of a key (what the in-memory prefix set holds). */
export function apiKeyPrefix(key: string): string {
  return key.slice(0, DISPLAY_LENGTH);
}

export function looksLikeApiKey(value: string): boolean {
  return KEY_RE.test(value);
}

/** HMAC-SHA-256 under the server secret: the only form in which a key is stored. */
export function hashApiKey(serverSecret: string, key: string): Buffer {
  return createHmac('sha256', serverSecret).update(key).digest();
}
