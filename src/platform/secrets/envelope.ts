import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM envelope encryption for stored credentials. Each secret gets its own random data
 * key; only the data key is encrypted ("wrapped") under the master key. Rotating the master key
 * therefore re-wraps 32-byte data keys and never touches the secrets' ciphertexts.
 */

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A master key and its id (a digest of the key: stored with each envelope to pick the key back). */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

/** What is stored per secret. All binary fields are raw bytes (bytea). */
export interface Envelope {
  /** Id of the master key the data key is wrapped under. */
  keyId: string;
  /** iv (12) ‖ encrypted data key (32) ‖ tag (16). */
  wrappedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export class EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/** Parses a base64 (or base64url) 32-byte master key; the error never contains the value. */
export function parseMasterKey(encoded: string, name = 'RAMPART_MASTER_KEY'): MasterKey {
  const key = Buffer.from(encoded.trim(), 'base64');
  if (key.length !== 32) {
    throw new EnvelopeError(`${name} must be 32 bytes encoded as base64 (got ${key.length} bytes)`);
  }
  const id = `mk_${createHash('sha256').update('rampart-master-key-id:').update(key).digest('hex').slice(0, 16)}`;
  return { id, key };
}

/** A new random master key, base64-encoded (what embedded mode keeps in its data directory). */
export function generateMasterKey(): string {
  return randomBytes(32).toString('base64');
}

function seal(
  key: Buffer,
  plaintext: Buffer,
  aad: Buffer,
): { iv: Buffer; ct: Buffer; tag: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ct, tag: cipher.getAuthTag() };
}

function open(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer, aad: Buffer): Buffer {
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    // Node's message ("Unsupported state or unable to authenticate data") says nothing useful.
    throw new EnvelopeError('decryption failed: wrong key or tampered data');
  }
}

// The wrapped data key is bound to the master key id, so a data key cannot be replayed under
// another key record.
function wrapAad(keyId: string): Buffer {
  return Buffer.from(`rampart-dek:${keyId}`);
}

function wrap(master: MasterKey, dataKey: Buffer): Buffer {
  const { iv, ct, tag } = seal(master.key, dataKey, wrapAad(master.id));
  return Buffer.concat([iv, ct, tag]);
}

function unwrap(master: MasterKey, wrapped: Buffer): Buffer {
  if (wrapped.length !== IV_BYTES + 32 + TAG_BYTES)
    throw new EnvelopeError('decryption failed: malformed wrapped key');
  return open(
    master.key,
    wrapped.subarray(0, IV_BYTES),
    wrapped.subarray(IV_BYTES, IV_BYTES + 32),
    wrapped.subarray(IV_BYTES + 32),
    wrapAad(master.id),
  );
}

/**
 * Encrypts `plaintext` under a fresh data key. `context` (e.g. "provider:<tenant>:<id>") is
 * authenticated, so a ciphertext copied to another row does not decrypt there.
 */
export function encryptSecret(master: MasterKey, plaintext: string, context: string): Envelope {
  const dataKey = randomBytes(32);
  try {
    const { iv, ct, tag } = seal(dataKey, Buffer.from(plaintext, 'utf8'), Buffer.from(context));
    return { keyId: master.id, wrappedKey: wrap(master, dataKey), iv, ciphertext: ct, tag };
  } finally {
    dataKey.fill(0);
  }
}

/** Decrypts an envelope with the keyring's key of the same id; throws EnvelopeError otherwise. */
export function decryptSecret(keys: Keyring | MasterKey, env: Envelope, context: string): string {
  const master = keys instanceof Keyring ? keys.get(env.keyId) : keys;
  if (master.id !== env.keyId)
    throw new EnvelopeError(`decryption failed: envelope is under master key ${env.keyId}`);
  const dataKey = unwrap(master, env.wrappedKey);
  try {
    return open(dataKey, env.iv, env.ciphertext, env.tag, Buffer.from(context)).toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}

/** Re-wraps an envelope's data key from `from` to `to`; the ciphertext is unchanged. */
export function rewrap(env: Envelope, from: MasterKey, to: MasterKey): Envelope {
  if (env.keyId !== from.id)
    throw new EnvelopeError(`rewrap: envelope is under ${env.keyId}, not ${from.id}`);
  const dataKey = unwrap(from, env.wrappedKey);
  try {
    return { ...env, keyId: to.id, wrappedKey: wrap(to, dataKey) };
  } finally {
    dataKey.fill(0);
  }
}

/** The current master key (encrypts) plus previous ones (decrypt only, until re-wrapped). */
export class Keyring {
  readonly #byId = new Map<string, MasterKey>();

  constructor(
    readonly current: MasterKey,
    previous: readonly MasterKey[] = [],
  ) {
    for (const k of [current, ...previous]) this.#byId.set(k.id, k);
  }

  get(id: string): MasterKey {
    const k = this.#byId.get(id);
    if (!k) throw new EnvelopeError(`master key ${id} is not configured`);
    return k;
  }

  encrypt(plaintext: string, context: string): Envelope {
    return encryptSecret(this.current, plaintext, context);
  }

  decrypt(env: Envelope, context: string): string {
    return decryptSecret(this, env, context);
  }

  /** True when the envelope should be re-wrapped under the current key. */
  isStale(env: Envelope): boolean {
    return env.keyId !== this.current.id;
  }

  rewrapToCurrent(env: Envelope): Envelope {
    return rewrap(env, this.get(env.keyId), this.current);
  }
}

/** Builds the keyring from the settings; undefined when no master key is configured. */
export function keyringFromSettings(
  current: string | undefined,
  previous: string | undefined,
): Keyring | undefined {
  if (!current) return undefined;
  const former = (previous ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parseMasterKey(s, 'RAMPART_MASTER_KEY_PREVIOUS'));
  return new Keyring(parseMasterKey(current), former);
}

/** The credential_* columns a table stores an envelope in (all NULL when there is none). */
export interface EnvelopeColumns {
  credential_key_id: string | null;
  credential_wrapped_key: Uint8Array | null;
  credential_iv: Uint8Array | null;
  credential_ciphertext: Uint8Array | null;
  credential_tag: Uint8Array | null;
}

/** The envelope stored in a row's credential_* columns, if it has one. */
export function envelopeFromColumns(r: EnvelopeColumns): Envelope | undefined {
  if (
    r.credential_key_id === null ||
    !r.credential_wrapped_key ||
    !r.credential_iv ||
    !r.credential_ciphertext ||
    !r.credential_tag
  )
    return undefined;
  return {
    keyId: r.credential_key_id,
    wrappedKey: Buffer.from(r.credential_wrapped_key),
    iv: Buffer.from(r.credential_iv),
    ciphertext: Buffer.from(r.credential_ciphertext),
    tag: Buffer.from(r.credential_tag),
  };
}
