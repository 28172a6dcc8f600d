import type { TenantTx } from '../platform/db/database.js';
import type { Envelope } from '../platform/secrets/envelope.js';

export interface OidcConfigRow {
  issuer: string;
  client_id: string;
  secret_key_id: string;
  secret_wrapped_key: Uint8Array;
  secret_iv: Uint8Array;
  secret_ciphertext: Uint8Array;
  secret_tag: Uint8Array;
  scopes: string[];
  groups_claim: string;
  // Written only by upsertOidcConfig, from a zod-validated body.
  role_mapping: Record<string, string>;
  default_role: string;
  allowed_email_domains: string[];
  updated_at: Date;
}

export function secretEnvelopeOf(r: OidcConfigRow): Envelope {
  return {
    keyId: r.secret_key_id,
    wrappedKey: Buffer.from(r.secret_wrapped_key),
    iv: Buffer.from(r.secret_iv),
    ciphertext: Buffer.from(r.secret_ciphertext),
    tag: Buffer.from(r.secret_tag),
  };
}

export interface OidcConfigInput {
  issuer: string;
  clientId: string;
  secret: Envelope;
  scopes: readonly string[];
  groupsClaim: string;
  roleMapping: Record<string, string>;
  defaultRole: string;
  allowedEmailDomains: readonly string[];
}

export async function getOidcConfig(tx: TenantTx): Promise<OidcConfigRow | undefined> {
  const { rows } = await tx.query<OidcConfigRow>(
    `SELECT issuer, client_id, secret_key_id, secret_wrapped_key, secret_iv, secret_ciphertext,
            secret_tag, scopes, groups_claim, role_mapping, default_role, allowed_email_domains, updated_at
       FROM identity_oidc WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  return rows[0];
}

export async function upsertOidcConfig(tx: TenantTx, c: OidcConfigInput): Promise<void> {
  await tx.query(
    `INSERT INTO identity_oidc (tenant_id, issuer, client_id, secret_key_id, secret_wrapped_key,
        secret_iv, secret_ciphertext, secret_tag, scopes, groups_claim, role_mapping, default_role,
        allowed_email_domains)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)
     ON CONFLICT (tenant_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
       secret_key_id = excluded.secret_key_id, secret_wrapped_key = excluded.secret_wrapped_key,
       secret_iv = excluded.secret_iv, secret_ciphertext = excluded.secret_ciphertext,
       secret_tag = excluded.secret_tag, scopes = excluded.scopes, groups_claim = excluded.groups_claim,
       role_mapping = excluded.role_mapping, default_role = excluded.default_role,
       allowed_email_domains = excluded.allowed_email_domains, updated_at = now()`,
    [
      tx.tenantId,
      c.issuer,
      c.clientId,
      c.secret.keyId,
      c.secret.wrappedKey,
      c.secret.iv,
      c.secret.ciphertext,
      c.secret.tag,
      [...c.scopes],
      c.groupsClaim,
      JSON.stringify(c.roleMapping),
      c.defaultRole,
      [...c.allowedEmailDomains],
    ],
  );
}

export async function deleteOidcConfig(tx: TenantTx): Promise<boolean> {
  const { rows } = await tx.query(
    'DELETE FROM identity_oidc WHERE tenant_id = $1 RETURNING tenant_id',
    [tx.tenantId],
  );
  return rows.length === 1;
}

/** The member who signs in as (issuer, subject), if any; stamps the sign-in. */
export async function findIdentityUser(
  tx: TenantTx,
  issuer: string,
  subject: string,
): Promise<string | undefined> {
  const { rows } = await tx.query<{ user_id: string }>(
    `UPDATE user_identities SET last_login_at = now()
      WHERE tenant_id = $1 AND issuer = $2 AND subject = $3 RETURNING user_id`,
    [tx.tenantId, issuer, subject],
  );
  return rows[0]?.user_id;
}

export async function insertIdentity(
  tx: TenantTx,
  issuer: string,
  subject: string,
  userId: string,
): Promise<void> {
  await tx.query(
    'INSERT INTO user_identities (tenant_id, issuer, subject, user_id) VALUES ($1, $2, $3, $4)',
    [tx.tenantId, issuer, subject, userId],
  );
}

/** Makes the user's group memberships exactly `names`, creating missing groups; returns the change. */
export async function syncUserGroups(
  tx: TenantTx,
  userId: string,
  names: readonly string[],
): Promise<{ added: string[]; removed: string[] }> {
  await tx.query(
    `INSERT INTO groups (tenant_id, name) SELECT $1, n FROM unnest($2::text[]) n
     ON CONFLICT (tenant_id, name) DO NOTHING`,
    [tx.tenantId, [...names]],
  );
  const removed = await tx.query<{ name: string }>(
    `DELETE FROM group_members gm USING groups g
      WHERE gm.tenant_id = $1 AND gm.user_id = $2 AND g.id = gm.group_id AND NOT (g.name = ANY($3::text[]))
      RETURNING g.name`,
    [tx.tenantId, userId, [...names]],
  );
  const added = await tx.query<{ name: string }>(
    `INSERT INTO group_members (tenant_id, group_id, user_id)
     SELECT $1, g.id, $2 FROM groups g WHERE g.tenant_id = $1 AND g.name = ANY($3::text[])
     ON CONFLICT (group_id, user_id) DO NOTHING
     RETURNING (SELECT name FROM groups WHERE id = group_id) AS name`,
    [tx.tenantId, userId, [...names]],
  );
  return { added: added.rows.map((r) => r.name), removed: removed.rows.map((r) => r.name) };
}
