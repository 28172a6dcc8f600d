import { describe, expect, it } from 'vitest';
import {
  generateSigningSecret,
  isSigningSecret,
  signatureEntry,
  signedHeaders,
} from './signing.js';

describe('Standard Webhooks signing', () => {
  it('matches the scheme’s published example', () => {
    // The example message of the Standard Webhooks specification.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    expect(signatureEntry(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body)).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('signs with every secret during a rotation, space-separated', () => {
    const a = generateSigningSecret();
    const b = generateSigningSecret();
    const h = signedHeaders([a, b], 'id1', 1700000000, '{}');
    expect(h['webhook-id']).toBe('id1');
    expect(h['webhook-timestamp']).toBe('1700000000');
    expect(h['webhook-signature']).toBe(
      `${signatureEntry(a, 'id1', 1700000000, '{}')} ${signatureEntry(b, 'id1', 1700000000, '{}')}`,
    );
  });

  it('accepts whsec_ secrets of 24 to 64 bytes only', () => {
    expect(isSigningSecret(generateSigningSecret())).toBe(true);
    expect(isSigningSecret(`whsec_${Buffer.alloc(24, 1).toString('base64')}`)).toBe(true);
    expect(isSigningSecret(`whsec_${Buffer.alloc(16, 1).toString('base64')}`)).toBe(false);
    expect(isSigningSecret(`whsec_${Buffer.alloc(65, 1).toString('base64')}`)).toBe(false);
    expect(isSigningSecret(Buffer.alloc(32, 1).toString('base64'))).toBe(false);
  });
});
