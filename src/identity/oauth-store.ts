import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import type { Queryable } from '../platform/db/types.js';
import { one } from '../platform/checked.js';
import { FAMILY_EVENT, KEY_EVENTS_CHANNEL } from './keys-store.js';

/** A dynamically registered OAuth client (global: clients register before anyone signs in). */
export interface OAuthClientRow {
  id: string;
  secret_hash: Buffer | null;
  auth_method: string;
  client_name: string | null;
  client_uri: string | null;
  redirect_uris: string[];
  scope: string | null;
  created_at: Date;
}

const CLIENT_COLUMNS =
  'id, secret_hash, auth_method, client_name, client_uri, redirect_uris, scope, created_at';

export async function insertOAuthClient(
  tx: OperatorTx,
  c: {
    id: string;
    secretHash: Buffer | null;
    authMethod: string;
    clientName: string | null;
    clientUri: string | null;
    redirectUris: string[];
    scope: string | null;
  },
): Promise<OAuthClientRow> {
  const { rows } = await tx.query<OAuthClientRow>(
    `INSERT INTO oauth_clients (id, secret_hash, auth_method, client_name, client_uri, redirect_uris, scope)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${CLIENT_COLUMNS}`,
    [c.id, c.secretHash, c.authMethod, c.clientName, c.clientUri, c.redirectUris, c.scope],
  );
  return one(rows);
}

export async function findOAuthClient(
  tx: Queryable,
  id: string,
): Promise<OAuthClientRow | undefined> {
  const { rows } = await tx.query<OAuthClientRow>(
    `SELECT ${CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1`,
    [id],
  );
  return rows[0];
}

export async function insertAuthorizationCode(
  tx: TenantTx,
  c: {
    hash: Buffer;
    userId: string;
    clientId: string;
    redirectUri: string;
    codeChallenge: string;
    resource: string;
    scope: string;
    expiresAt: Date;
  },
): Promise<void> {
  // Codes a day past their expiry are of no use, even to detect a replay: the tenant's go here.
  await tx.query(
    `DELETE FROM oauth_authorization_codes WHERE tenant_id = $1 AND expires_at < now() - interval '1 day'`,
    [tx.tenantId],
  );
  await tx.query(
    `INSERT INTO oauth_authorization_codes
       (code_hash, tenant_id, user_id, client_id, redirect_uri, code_challenge, resource, scope, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      c.hash,
      tx.tenantId,
      c.userId,
      c.clientId,
      c.redirectUri,
      c.codeChallenge,
      c.resource,
      c.scope,
      c.expiresAt,
    ],
  );
}

export interface FoundCodeRow {
  tenant_id: string;
  user_id: string;
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  resource: string;
  scope: string;
  expires_at: Date;
  used_at: Date | null;
  family_id: string | null;
  active: boolean;
}

/** The pre-authentication lookup of an authorization code (SECURITY DEFINER, migration 0100). */
export async function findAuthorizationCode(
  tx: OperatorTx,
  hash: Buffer,
): Promise<FoundCodeRow | undefined> {
  const { rows } = await tx.query<FoundCodeRow>('SELECT * FROM rampart_find_oauth_code($1)', [
    hash,
  ]);
  return rows[0];
}

/**
 * Marks the code redeemed. `first: false` when it was redeemed before, with the family that
 * redemption issued (null if it issued none).
 */
export async function redeemAuthorizationCode(
  tx: TenantTx,
  hash: Buffer,
): Promise<{ first: true } | { first: false; previousFamily: string | null }> {
  const { rows } = await tx.query(
    `UPDATE oauth_authorization_codes SET used_at = now()
      WHERE tenant_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING tenant_id`,
    [tx.tenantId, hash],
  );
  if (rows.length === 1) return { first: true };
  const prior = await tx.query<{ family_id: string | null }>(
    'SELECT family_id FROM oauth_authorization_codes WHERE tenant_id = $1 AND code_hash = $2',
    [tx.tenantId, hash],
  );
  return { first: false, previousFamily: prior.rows[0]?.family_id ?? null };
}

export async function setCodeFamily(tx: TenantTx, hash: Buffer, familyId: string): Promise<void> {
  await tx.query(
    'UPDATE oauth_authorization_codes SET family_id = $3 WHERE tenant_id = $1 AND code_hash = $2',
    [tx.tenantId, hash, familyId],
  );
}

/** A live refresh-token family a person granted to an OAuth client, with that client. */
export interface OAuthGrantRow {
  id: string;
  client_id: string;
  client_name: string | null;
  redirect_uris: string[];
  created_at: Date;
  expires_at: Date;
  /** When the client last exchanged a refresh token of the family (null: never yet). */
  last_refreshed_at: Date | null;
}

/** The live grants (families issued to an OAuth client) of one person, newest first. */
export async function listUserOAuthGrants(tx: TenantTx, userId: string): Promise<OAuthGrantRow[]> {
  const { rows } = await tx.query<OAuthGrantRow>(
    `SELECT f.id, f.client_id, c.client_name, c.redirect_uris, f.created_at, f.expires_at,
            (SELECT max(r.rotated_at) FROM refresh_tokens r
              WHERE r.tenant_id = f.tenant_id AND r.family_id = f.id) AS last_refreshed_at
       FROM token_families f JOIN oauth_clients c ON c.id = f.client_id
      WHERE f.tenant_id = $1 AND f.user_id = $2 AND f.client_id IS NOT NULL
        AND f.revoked_at IS NULL AND f.expires_at > now()
      ORDER BY f.created_at DESC, f.id
      LIMIT 500`,
    [tx.tenantId, userId],
  );
  return rows;
}

/**
 * Revokes one live grant of `userId` (a family issued to an OAuth client) and tells every
 * instance at commit; the client id when it was theirs and live, otherwise undefined.
 */
export async function revokeUserOAuthGrant(
  tx: TenantTx,
  userId: string,
  familyId: string,
): Promise<string | undefined> {
  const { rows } = await tx.query<{ client_id: string }>(
    `UPDATE token_families SET revoked_at = now(), revoked_reason = 'revoked_by_person'
      WHERE tenant_id = $1 AND id = $2 AND user_id = $3 AND client_id IS NOT NULL
        AND revoked_at IS NULL AND expires_at > now()
      RETURNING client_id, pg_notify($4, $5 || id::text)`,
    [tx.tenantId, familyId, userId, KEY_EVENTS_CHANNEL, FAMILY_EVENT],
  );
  return rows[0]?.client_id;
}
