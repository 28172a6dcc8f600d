import { z } from 'zod';
import type { Envelope } from './envelope.js';

const EnvelopeJson = z.object({
  keyId: z.string(),
  wrappedKey: z.string(),
  iv: z.string(),
  ciphertext: z.string(),
  tag: z.string(),
});

/** An envelope as one text column (JSON, binary parts in base64). */
export function sealEnvelope(e: Envelope): string {
  return JSON.stringify({
    keyId: e.keyId,
    wrappedKey: e.wrappedKey.toString('base64'),
    iv: e.iv.toString('base64'),
    ciphertext: e.ciphertext.toString('base64'),
    tag: e.tag.toString('base64'),
  });
}

/** Reads an envelope written by sealEnvelope; throws on anything else. */
export function openEnvelope(text: string): Envelope {
  const j = EnvelopeJson.parse(JSON.parse(text));
  return {
    keyId: j.keyId,
    wrappedKey: Buffer.from(j.wrappedKey, 'base64'),
    iv: Buffer.from(j.iv, 'base64'),
    ciphertext: Buffer.from(j.ciphertext, 'base64'),
    tag: Buffer.from(j.tag, 'base64'),
  };
}
