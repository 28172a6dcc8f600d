import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SYSTEM_TENANT_ID, appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { ServiceUnavailable } from '../platform/http/errors.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { openEnvelope, sealEnvelope } from '../platform/secrets/envelope-json.js';
import {
  insertSigningKey,
  lockSigningKeys,
  publishedSigningKeys,
  retireSigningKeys,
  type SigningKeyRow,
} from './tokens-store.js';

/** How long this process trusts its copy of the key table before reading it again. */
const RELOAD_MS = 60_000;
/** An unknown `kid` reads the table again, at most this often. */
const UNKNOWN_KID_COOLDOWN_MS = 5_000;

export interface SigningKeyOptions {
  rotationDays: number;
  /** Longest lifetime of a token a key signs: a retired key stays published this long (plus margin). */
  maxTokenTtlS: number;
  now?: () => number;
}

interface Loaded {
  rows: SigningKeyRow[];
  publicKeys: Map<string, KeyObject>;
  at: number;
}

/**
 * The ES256 keys Rampart signs its access tokens with. Private keys are stored envelope-encrypted
 * under the master key (context "token-signing:<kid>"); public keys are published as a JWKS.
 * Rotation has overlap: the new key signs at once, and the retired ones stay published until
 * every token they signed has expired.
 */
export class SigningKeys {
  #loaded: Loaded | undefined;
  #lastUnknownReload = 0;
  readonly #privateKeys = new Map<string, KeyObject>();
  readonly #now: () => number;

  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring | undefined,
    private readonly opts: SigningKeyOptions,
  ) {
    this.#now = opts.now ?? Date.now;
  }

  /** The key new tokens are signed with; makes one (rotating) when none is fresh enough. */
  async current(): Promise<{ kid: string; key: KeyObject }> {
    let row = this.#signer(await this.#keys());
    if (!row || this.#stale(row)) {
      await this.rotate(false);
      row = this.#signer(await this.#keys(true));
    }
    if (!row) throw new ServiceUnavailable('No token signing key is available.');
    return { kid: row.kid, key: this.#privateKey(row) };
  }

  /** The public key of `kid` (reading the table again once for a kid not seen yet). */
  async publicKey(kid: string): Promise<KeyObject | undefined> {
    const found = (await this.#keys()).publicKeys.get(kid);
    if (found || this.#now() - this.#lastUnknownReload < UNKNOWN_KID_COOLDOWN_MS) return found;
    this.#lastUnknownReload = this.#now();
    return (await this.#keys(true)).publicKeys.get(kid);
  }

  /** The published keys as a JSON Web Key Set. */
  async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
    const { rows } = await this.#keys();
    return { keys: rows.map((r) => ({ ...r.public_jwk, kid: r.kid, alg: r.alg, use: 'sig' })) };
  }

  /**
   * Makes a new signing key and retires the others (published until their tokens expire).
   * Unless `force`, does nothing when another instance made a fresh key meanwhile.
   */
  async rotate(force = true): Promise<{ kid: string; retired: string[]; created: boolean }> {
    const keyring = this.#keyring();
    const result = await this.db.withOperator(async (tx) => {
      await lockSigningKeys(tx);
      const existing = this.#signer({ rows: await publishedSigningKeys(tx) });
      if (!force && existing && !this.#stale(existing))
        return { kid: existing.kid, retired: [], created: false };
      const kid = randomBytes(16).toString('base64url');
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const jwk = publicKey.export({ format: 'jwk' });
      await insertSigningKey(tx, {
        kid,
        publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
        privateKey: sealEnvelope(keyring.encrypt(pem, `token-signing:${kid}`)),
      });
      // Other instances may sign with a retired key until they next read the table.
      const overlapMs = (this.opts.maxTokenTtlS + 60) * 1000 + RELOAD_MS;
      const retired = await retireSigningKeys(tx, kid, new Date(this.#now() + overlapMs));
      return { kid, retired, created: true };
    });
    this.#loaded = undefined;
    if (result.created)
      await this.db.withTenant({ tenantId: SYSTEM_TENANT_ID, groups: [] }, (tx) =>
        appendAuditEvent(tx, {
          actor: { type: 'system', id: null },
          action: 'signing_key.rotated',
          target: { type: 'signing_key', id: result.kid },
          outcome: 'success',
          details: { retired: result.retired, forced: force },
        }),
      );
    return result;
  }

  async #keys(reload = false): Promise<Loaded> {
    const cached = this.#loaded;
    if (!reload && cached && this.#now() - cached.at < RELOAD_MS) return cached;
    const rows = await this.db.withOperator((tx) => publishedSigningKeys(tx));
    const publicKeys = new Map<string, KeyObject>();
    for (const r of rows)
      publicKeys.set(r.kid, createPublicKey({ key: r.public_jwk, format: 'jwk' }));
    this.#loaded = { rows, publicKeys, at: this.#now() };
    return this.#loaded;
  }

  #signer(loaded: { rows: SigningKeyRow[] }): SigningKeyRow | undefined {
    return loaded.rows.find((r) => r.retired_at === null);
  }

  #stale(row: SigningKeyRow): boolean {
    return this.#now() - row.created_at.getTime() > this.opts.rotationDays * 86_400_000;
  }

  #privateKey(row: SigningKeyRow): KeyObject {
    let key = this.#privateKeys.get(row.kid);
    if (!key) {
      const pem = this.#keyring().decrypt(
        openEnvelope(row.private_key),
        `token-signing:${row.kid}`,
      );
      key = createPrivateKey(pem);
      if (this.#privateKeys.size > 16) this.#privateKeys.clear();
      this.#privateKeys.set(row.kid, key);
    }
    return key;
  }

  #keyring(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'Access tokens cannot be issued: RAMPART_MASTER_KEY is not configured (signing keys are stored encrypted).',
        'tokens_unavailable',
      );
    return this.keyring;
  }
}
