import { one } from '../../platform/checked.js';
import type { TenantTx } from '../../platform/db/database.js';

/** SQL of per-user connections: pending authorizations and the tokens people connected. */

export interface OAuthFlowRow {
  id: string;
  tenant_id: string;
  server_id: string;
  user_id: string;
  verifier_envelope: unknown;
  client_id: string;
  redirect_uri: string;
  resource: string;
  scope: string | null;
  as_metadata: unknown;
  expires_at: Date;
}

export interface UserConnectionRow {
  id: string;
  tenant_id: string;
  server_id: string;
  user_id: string;
  token_envelope: unknown;
  client_id: string;
  resource: string;
  scope: string | null;
  as_metadata: unknown;
  access_expires_at: Date | null;
  has_refresh_token: boolean;
  connected_at: Date;
  refreshed_at: Date | null;
  updated_at: Date;
}

export interface NewOAuthFlow {
  serverId: string;
  userId: string;
  stateHash: string;
  verifierEnvelope: unknown;
  clientId: string;
  redirectUri: string;
  resource: string;
  scope: string | undefined;
  asMetadata: unknown;
  ttlSeconds: number;
}

export async function insertFlow(tx: TenantTx, f: NewOAuthFlow): Promise<Date> {
  // RLS shows a user only their own flows, so this clears only the caller's stale ones.
  await tx.query(`DELETE FROM mcp_oauth_flows WHERE tenant_id = $1 AND expires_at < now()`, [
    tx.tenantId,
  ]);
  const { rows } = await tx.query<{ expires_at: Date }>(
    `INSERT INTO mcp_oauth_flows (tenant_id, server_id, user_id, state_hash, verifier_envelope,
        client_id, redirect_uri, resource, scope, as_metadata, expires_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10::jsonb,
             now() + make_interval(secs => $11))
     RETURNING expires_at`,
    [
      tx.tenantId,
      f.serverId,
      f.userId,
      f.stateHash,
      JSON.stringify(f.verifierEnvelope),
      f.clientId,
      f.redirectUri,
      f.resource,
      f.scope ?? null,
      JSON.stringify(f.asMetadata),
      f.ttlSeconds,
    ],
  );
  return one(rows).expires_at;
}

/** Takes the live flow of this state (single use: it is deleted whatever happens next). */
export async function takeFlow(tx: TenantTx, stateHash: string): Promise<OAuthFlowRow | undefined> {
  const { rows } = await tx.query<OAuthFlowRow>(
    `DELETE FROM mcp_oauth_flows WHERE tenant_id = $1 AND state_hash = $2
     RETURNING id, tenant_id, server_id, user_id, verifier_envelope, client_id, redirect_uri,
       resource, scope, as_metadata, expires_at`,
    [tx.tenantId, stateHash],
  );
  const row = rows[0];
  return row && row.expires_at.getTime() > Date.now() ? row : undefined;
}

const CONNECTION_COLUMNS = `id, tenant_id, server_id, user_id, token_envelope, client_id, resource,
  scope, as_metadata, access_expires_at, has_refresh_token, connected_at, refreshed_at, updated_at`;

export interface ConnectionTokens {
  tokenEnvelope: unknown;
  accessExpiresAt: Date | null;
  hasRefreshToken: boolean;
  scope: string | undefined;
}

export async function upsertConnection(
  tx: TenantTx,
  c: ConnectionTokens & {
    serverId: string;
    userId: string;
    clientId: string;
    resource: string;
    asMetadata: unknown;
  },
): Promise<UserConnectionRow> {
  const { rows } = await tx.query<UserConnectionRow>(
    `INSERT INTO mcp_user_connections (tenant_id, server_id, user_id, token_envelope, client_id,
        resource, scope, as_metadata, access_expires_at, has_refresh_token)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8::jsonb, $9, $10)
     ON CONFLICT (tenant_id, server_id, user_id) DO UPDATE SET
       token_envelope = EXCLUDED.token_envelope, client_id = EXCLUDED.client_id,
       resource = EXCLUDED.resource, scope = EXCLUDED.scope, as_metadata = EXCLUDED.as_metadata,
       access_expires_at = EXCLUDED.access_expires_at,
       has_refresh_token = EXCLUDED.has_refresh_token, connected_at = now(),
       refreshed_at = NULL, updated_at = now()
     RETURNING ${CONNECTION_COLUMNS}`,
    [
      tx.tenantId,
      c.serverId,
      c.userId,
      JSON.stringify(c.tokenEnvelope),
      c.clientId,
      c.resource,
      c.scope ?? null,
      JSON.stringify(c.asMetadata),
      c.accessExpiresAt,
      c.hasRefreshToken,
    ],
  );
  return one(rows);
}

export async function getConnection(
  tx: TenantTx,
  serverId: string,
  userId: string,
  opts: { lock?: boolean } = {},
): Promise<UserConnectionRow | undefined> {
  const { rows } = await tx.query<UserConnectionRow>(
    `SELECT ${CONNECTION_COLUMNS} FROM mcp_user_connections
     WHERE tenant_id = $1 AND server_id = $2 AND user_id = $3${opts.lock ? ' FOR UPDATE' : ''}`,
    [tx.tenantId, serverId, userId],
  );
  return rows[0];
}

export async function saveRefreshedTokens(
  tx: TenantTx,
  id: string,
  t: ConnectionTokens,
): Promise<UserConnectionRow> {
  const { rows } = await tx.query<UserConnectionRow>(
    `UPDATE mcp_user_connections SET token_envelope = $3::jsonb, access_expires_at = $4,
       has_refresh_token = $5, scope = COALESCE($6, scope), refreshed_at = now(), updated_at = now()
     WHERE tenant_id = $1 AND id = $2
     RETURNING ${CONNECTION_COLUMNS}`,
    [
      tx.tenantId,
      id,
      JSON.stringify(t.tokenEnvelope),
      t.accessExpiresAt,
      t.hasRefreshToken,
      t.scope ?? null,
    ],
  );
  return one(rows);
}

export async function deleteConnection(
  tx: TenantTx,
  serverId: string,
  userId: string,
): Promise<boolean> {
  const { rows } = await tx.query<{ id: string }>(
    `DELETE FROM mcp_user_connections WHERE tenant_id = $1 AND server_id = $2 AND user_id = $3
     RETURNING id`,
    [tx.tenantId, serverId, userId],
  );
  return rows.length > 0;
}
