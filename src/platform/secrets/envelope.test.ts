import { describe, expect, it } from 'vitest';
import {
  decryptSecret,
  encryptSecret,
  EnvelopeError,
  generateMasterKey,
  Keyring,
  parseMasterKey,
  rewrap,
} from './envelope.js';

const SECRET = 'sk-live-0123456789abcdefghijklmnop';
const CTX = 'provider:tenant-a:p1';

describe('envelope encryption', () => {
  it('round-trips a secret and never stores it in plaintext', () => {
    const mk = parseMasterKey(generateMasterKey());
    const env = encryptSecret(mk, SECRET, CTX);
    expect(env.keyId).toBe(mk.id);
    expect(env.iv).toHaveLength(12);
    expect(env.tag).toHaveLength(16);
    expect(env.wrappedKey).toHaveLength(60);
    const stored = Buffer.concat([env.wrappedKey, env.iv, env.ciphertext, env.tag]);
    expect(stored.includes(Buffer.from(SECRET))).toBe(false);
    expect(decryptSecret(mk, env, CTX)).toBe(SECRET);
  });

  it('uses a fresh data key and iv per secret', () => {
    const mk = parseMasterKey(generateMasterKey());
    const a = encryptSecret(mk, SECRET, CTX);
    const b = encryptSecret(mk, SECRET, CTX);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
  });

  it('detects tampering with the ciphertext, tag, iv, wrapped key or context', () => {
    const mk = parseMasterKey(generateMasterKey());
    const env = encryptSecret(mk, SECRET, CTX);
    const flip = (b: Buffer, i = 0): Buffer => {
      const c = Buffer.from(b);
      c[i] = (c[i] as number) ^ 1;
      return c;
    };
    const tampered = [
      { ...env, ciphertext: flip(env.ciphertext) },
      { ...env, tag: flip(env.tag, 15) },
      { ...env, iv: flip(env.iv) },
      { ...env, wrappedKey: flip(env.wrappedKey, 20) },
    ];
    for (const t of tampered) expect(() => decryptSecret(mk, t, CTX)).toThrow(EnvelopeError);
    expect(() => decryptSecret(mk, env, 'provider:tenant-b:p1')).toThrow(EnvelopeError);
  });

  it('fails with the wrong master key, without revealing anything', () => {
    const mk = parseMasterKey(generateMasterKey());
    const other = parseMasterKey(generateMasterKey());
    const env = encryptSecret(mk, SECRET, CTX);
    expect(() => decryptSecret(other, env, CTX)).toThrow(/master key/);
    // Even when the id is forged to match, the wrapped key does not open.
    expect(() => decryptSecret(other, { ...env, keyId: other.id }, CTX)).toThrow(
      'decryption failed: wrong key or tampered data',
    );
  });

  it('rotation re-wraps the data key: same ciphertext, opens only under the new key', () => {
    const oldKey = parseMasterKey(generateMasterKey());
    const newKey = parseMasterKey(generateMasterKey());
    const env = encryptSecret(oldKey, SECRET, CTX);
    const rotated = rewrap(env, oldKey, newKey);
    expect(rotated.keyId).toBe(newKey.id);
    expect(rotated.ciphertext.equals(env.ciphertext)).toBe(true);
    expect(rotated.wrappedKey.equals(env.wrappedKey)).toBe(false);
    expect(decryptSecret(newKey, rotated, CTX)).toBe(SECRET);
    expect(() => decryptSecret(oldKey, rotated, CTX)).toThrow(EnvelopeError);
    expect(() => rewrap(rotated, oldKey, newKey)).toThrow(/rewrap/);
  });

  it('a keyring decrypts under previous keys and re-wraps to the current one', () => {
    const oldKey = parseMasterKey(generateMasterKey());
    const newKey = parseMasterKey(generateMasterKey());
    const env = new Keyring(oldKey).encrypt(SECRET, CTX);
    const ring = new Keyring(newKey, [oldKey]);
    expect(ring.isStale(env)).toBe(true);
    expect(ring.decrypt(env, CTX)).toBe(SECRET);
    const fresh = ring.rewrapToCurrent(env);
    expect(ring.isStale(fresh)).toBe(false);
    expect(new Keyring(newKey).decrypt(fresh, CTX)).toBe(SECRET);
    expect(() => new Keyring(newKey).decrypt(env, CTX)).toThrow(/not configured/);
  });

  it('rejects a master key that is not 32 bytes, without echoing it', () => {
    expect(() => parseMasterKey('c2hvcnQ=')).toThrow(
      'must be 32 bytes encoded as base64 (got 5 bytes)',
    );
    const a = parseMasterKey(Buffer.alloc(32, 7).toString('base64'));
    const b = parseMasterKey(Buffer.alloc(32, 7).toString('base64url'));
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^mk_[0-9a-f]{16}$/);
  });
});
