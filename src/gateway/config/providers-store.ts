import type { TenantTx } from '../../platform/db/database.js';
import type { Envelope } from '../../platform/secrets/envelope.js';
import { one } from '../../platform/checked.js';

export interface ProviderRow {
  id: string;
  tenant_id: string;
  name: string;
  type: 'openai' | 'anthropic';
  base_url: string;
  headers: Record<string, string>;
  data_policy: { redactPii?: boolean; allowDataClasses?: string[] };
  self_hosted: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface ProviderSecretRow extends ProviderRow {
  credential_key_id: string;
  credential_wrapped_key: Uint8Array;
  credential_iv: Uint8Array;
  credential_ciphertext: Uint8Array;
  credential_tag: Uint8Array;
}

const COLUMNS =
  'id, tenant_id, name, type, base_url, headers, data_policy, self_hosted, created_at, updated_at';
const SECRET_COLUMNS = `${COLUMNS}, credential_key_id, credential_wrapped_key, credential_iv, credential_ciphertext, credential_tag`;

export function envelopeOf(r: ProviderSecretRow): Envelope {
  return {
    keyId: r.credential_key_id,
    wrappedKey: Buffer.from(r.credential_wrapped_key),
    iv: Buffer.from(r.credential_iv),
    ciphertext: Buffer.from(r.credential_ciphertext),
    tag: Buffer.from(r.credential_tag),
  };
}

export async function insertProvider(
  tx: TenantTx,
  p: {
    id: string;
    name: string;
    type: string;
    baseUrl: string;
    headers: Record<string, string>;
    dataPolicy: ProviderRow['data_policy'];
    selfHosted: boolean;
  },
  env: Envelope,
): Promise<ProviderRow> {
  const { rows } = await tx.query<ProviderRow>(
    `INSERT INTO providers (id, tenant_id, name, type, base_url, headers, credential_key_id,
        credential_wrapped_key, credential_iv, credential_ciphertext, credential_tag, data_policy,
        self_hosted)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12::jsonb, $13)
     RETURNING ${COLUMNS}`,
    [
      p.id,
      tx.tenantId,
      p.name,
      p.type,
      p.baseUrl,
      JSON.stringify(p.headers),
      env.keyId,
      env.wrappedKey,
      env.iv,
      env.ciphertext,
      env.tag,
      JSON.stringify(p.dataPolicy),
      p.selfHosted,
    ],
  );
  return one(rows);
}

export async function listProviders(tx: TenantTx): Promise<ProviderRow[]> {
  const { rows } = await tx.query<ProviderRow>(
    `SELECT ${COLUMNS} FROM providers WHERE tenant_id = $1 ORDER BY name`,
    [tx.tenantId],
  );
  return rows;
}

export async function getProvider(tx: TenantTx, id: string): Promise<ProviderRow | undefined> {
  const { rows } = await tx.query<ProviderRow>(
    `SELECT ${COLUMNS} FROM providers WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

/** Providers by name, with their encrypted credential (for invoking them). */
export async function getProvidersWithSecret(
  tx: TenantTx,
  names: readonly string[],
): Promise<ProviderSecretRow[]> {
  const { rows } = await tx.query<ProviderSecretRow>(
    `SELECT ${SECRET_COLUMNS} FROM providers WHERE tenant_id = $1 AND name = ANY($2::text[])`,
    [tx.tenantId, [...names]],
  );
  return rows;
}

export async function existingProviderNames(
  tx: TenantTx,
  names: readonly string[],
): Promise<Set<string>> {
  const { rows } = await tx.query<{ name: string }>(
    `SELECT name FROM providers WHERE tenant_id = $1 AND name = ANY($2::text[])`,
    [tx.tenantId, [...names]],
  );
  return new Set(rows.map((r) => r.name));
}

export async function updateProvider(
  tx: TenantTx,
  id: string,
  patch: {
    name?: string | undefined;
    baseUrl?: string | undefined;
    headers?: Record<string, string> | undefined;
    dataPolicy?: ProviderRow['data_policy'] | undefined;
    selfHosted?: boolean | undefined;
  },
  env: Envelope | undefined,
): Promise<ProviderRow | undefined> {
  const { rows } = await tx.query<ProviderRow>(
    `UPDATE providers SET
        name = coalesce($3, name),
        base_url = coalesce($4, base_url),
        headers = coalesce($5::jsonb, headers),
        credential_key_id = coalesce($6, credential_key_id),
        credential_wrapped_key = coalesce($7, credential_wrapped_key),
        credential_iv = coalesce($8, credential_iv),
        credential_ciphertext = coalesce($9, credential_ciphertext),
        credential_tag = coalesce($10, credential_tag),
        data_policy = coalesce($11::jsonb, data_policy),
        self_hosted = coalesce($12, self_hosted),
        updated_at = now()
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      id,
      patch.name ?? null,
      patch.baseUrl ?? null,
      patch.headers ? JSON.stringify(patch.headers) : null,
      env?.keyId ?? null,
      env?.wrappedKey ?? null,
      env?.iv ?? null,
      env?.ciphertext ?? null,
      env?.tag ?? null,
      patch.dataPolicy ? JSON.stringify(patch.dataPolicy) : null,
      patch.selfHosted ?? null,
    ],
  );
  return rows[0];
}

export async function deleteProvider(tx: TenantTx, id: string): Promise<boolean> {
  const r = await tx.query(`DELETE FROM providers WHERE tenant_id = $1 AND id = $2`, [
    tx.tenantId,
    id,
  ]);
  return r.rowCount > 0;
}

/** Providers whose data key is wrapped under another master key than `currentKeyId`. */
export async function listStaleCredentials(
  tx: TenantTx,
  currentKeyId: string,
): Promise<ProviderSecretRow[]> {
  const { rows } = await tx.query<ProviderSecretRow>(
    `SELECT ${SECRET_COLUMNS} FROM providers WHERE tenant_id = $1 AND credential_key_id <> $2
      FOR UPDATE`,
    [tx.tenantId, currentKeyId],
  );
  return rows;
}

/** Replaces only the wrapped data key (rotation): the credential's ciphertext is unchanged. */
export async function updateCredentialWrap(tx: TenantTx, id: string, env: Envelope): Promise<void> {
  await tx.query(
    `UPDATE providers SET credential_key_id = $3, credential_wrapped_key = $4
      WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id, env.keyId, env.wrappedKey],
  );
}
