import { ServiceUnavailable } from '../platform/http/errors.js';
import { decryptSecret, type Envelope, type Keyring } from '../platform/secrets/envelope.js';
import type { ToolSecretRow } from './store.js';

// Binds a ciphertext to its row: copied into another tenant's or tool's row it won't decrypt.
const context = (tenantId: string, toolId: string): string => `tool:${tenantId}:${toolId}`;

function ring(keyring: Keyring | undefined): Keyring {
  if (!keyring)
    throw new ServiceUnavailable(
      'No master key is configured (RAMPART_MASTER_KEY): tool credentials cannot be stored or used.',
      'master_key_missing',
    );
  return keyring;
}

/** Encrypts a tool's credential for storage (AES-256-GCM envelope). */
export function encryptCredential(
  keyring: Keyring | undefined,
  tenantId: string,
  toolId: string,
  credential: string,
): Envelope {
  return ring(keyring).encrypt(credential, context(tenantId, toolId));
}

/** The plaintext credential of a stored tool; used only to build the action's request. */
export function decryptCredential(
  keyring: Keyring | undefined,
  tenantId: string,
  row: ToolSecretRow,
): string {
  const { credential_key_id, credential_wrapped_key, credential_iv, credential_ciphertext } = row;
  const tag = row.credential_tag;
  if (
    !credential_key_id ||
    !credential_wrapped_key ||
    !credential_iv ||
    !credential_ciphertext ||
    !tag
  )
    throw new ServiceUnavailable(`The credential of tool '${row.name}' is incomplete.`);
  return decryptSecret(
    ring(keyring),
    {
      keyId: credential_key_id,
      wrappedKey: Buffer.from(credential_wrapped_key),
      iv: Buffer.from(credential_iv),
      ciphertext: Buffer.from(credential_ciphertext),
      tag: Buffer.from(tag),
    },
    context(tenantId, row.id),
  );
}
