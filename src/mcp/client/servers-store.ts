import { one } from '../../platform/checked.js';
import type { TenantTx } from '../../platform/db/database.js';
import type { Envelope } from '../../platform/secrets/envelope.js';

export interface McpServerRow {
  id: string;
  tenant_id: string;
  name: string;
  url: string;
  auth_type: string;
  auth_meta: unknown;
  default_policy: string | null;
  tool_policies: unknown;
  tools: unknown[] | null;
  tools_at: Date | null;
  tools_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface McpServerSecretRow extends McpServerRow {
  credential_key_id: string | null;
  credential_wrapped_key: Uint8Array | null;
  credential_iv: Uint8Array | null;
  credential_ciphertext: Uint8Array | null;
  credential_tag: Uint8Array | null;
}

const COLUMNS = `id, tenant_id, name, url, auth_type, auth_meta, default_policy, tool_policies,
  tools, tools_at, tools_expires_at, created_at, updated_at`;
const SECRET_COLUMNS = `${COLUMNS}, credential_key_id, credential_wrapped_key, credential_iv,
  credential_ciphertext, credential_tag`;

export interface NewMcpServer {
  id: string;
  name: string;
  url: string;
  authType: string;
  authMeta: Record<string, unknown>;
  defaultPolicy: string | null;
  toolPolicies: Record<string, string>;
}

export async function insertServer(
  tx: TenantTx,
  s: NewMcpServer,
  env: Envelope | undefined,
): Promise<McpServerSecretRow> {
  const { rows } = await tx.query<McpServerSecretRow>(
    `INSERT INTO mcp_servers (id, tenant_id, name, url, auth_type, auth_meta, default_policy,
        tool_policies, credential_key_id, credential_wrapped_key, credential_iv,
        credential_ciphertext, credential_tag)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9, $10, $11, $12, $13)
     RETURNING ${SECRET_COLUMNS}`,
    [
      s.id,
      tx.tenantId,
      s.name,
      s.url,
      s.authType,
      JSON.stringify(s.authMeta),
      s.defaultPolicy,
      JSON.stringify(s.toolPolicies),
      env?.keyId ?? null,
      env?.wrappedKey ?? null,
      env?.iv ?? null,
      env?.ciphertext ?? null,
      env?.tag ?? null,
    ],
  );
  return one(rows);
}

export async function listServers(tx: TenantTx): Promise<McpServerSecretRow[]> {
  const { rows } = await tx.query<McpServerSecretRow>(
    `SELECT ${SECRET_COLUMNS} FROM mcp_servers WHERE tenant_id = $1 ORDER BY name`,
    [tx.tenantId],
  );
  return rows;
}

/** The servers of these names (the copilot resolves `mcp.<name>.<tool>`). */
export async function serversByName(
  tx: TenantTx,
  names: readonly string[],
): Promise<McpServerSecretRow[]> {
  const { rows } = await tx.query<McpServerSecretRow>(
    `SELECT ${SECRET_COLUMNS} FROM mcp_servers WHERE tenant_id = $1 AND name = ANY($2::text[])`,
    [tx.tenantId, names],
  );
  return rows;
}

export async function getServer(
  tx: TenantTx,
  id: string,
  opts: { lock?: boolean } = {},
): Promise<McpServerSecretRow | undefined> {
  const { rows } = await tx.query<McpServerSecretRow>(
    `SELECT ${SECRET_COLUMNS} FROM mcp_servers WHERE tenant_id = $1 AND id = $2${opts.lock ? ' FOR UPDATE' : ''}`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export interface McpServerChanges {
  url?: string | undefined;
  auth?: { type: string; meta: Record<string, unknown>; env: Envelope | undefined } | undefined;
  defaultPolicy?: string | null | undefined;
  toolPolicies?: Record<string, string> | undefined;
}

export async function updateServer(
  tx: TenantTx,
  id: string,
  c: McpServerChanges,
): Promise<McpServerSecretRow> {
  const { rows } = await tx.query<McpServerSecretRow>(
    `UPDATE mcp_servers SET
       url = COALESCE($3, url),
       auth_type = CASE WHEN $4 THEN $5 ELSE auth_type END,
       auth_meta = CASE WHEN $4 THEN $6::jsonb ELSE auth_meta END,
       credential_key_id = CASE WHEN $4 THEN $7 ELSE credential_key_id END,
       credential_wrapped_key = CASE WHEN $4 THEN $8 ELSE credential_wrapped_key END,
       credential_iv = CASE WHEN $4 THEN $9 ELSE credential_iv END,
       credential_ciphertext = CASE WHEN $4 THEN $10 ELSE credential_ciphertext END,
       credential_tag = CASE WHEN $4 THEN $11 ELSE credential_tag END,
       default_policy = CASE WHEN $12 THEN $13 ELSE default_policy END,
       tool_policies = COALESCE($14::jsonb, tool_policies),
       -- A new address or credential may reach another server: its old listing no longer holds.
       tools = CASE WHEN $3 IS NOT NULL OR $4 THEN NULL ELSE tools END,
       tools_at = CASE WHEN $3 IS NOT NULL OR $4 THEN NULL ELSE tools_at END,
       tools_expires_at = CASE WHEN $3 IS NOT NULL OR $4 THEN NULL ELSE tools_expires_at END,
       updated_at = now()
     WHERE tenant_id = $1 AND id = $2
     RETURNING ${SECRET_COLUMNS}`,
    [
      tx.tenantId,
      id,
      c.url ?? null,
      c.auth !== undefined,
      c.auth?.type ?? null,
      JSON.stringify(c.auth?.meta ?? {}),
      c.auth?.env?.keyId ?? null,
      c.auth?.env?.wrappedKey ?? null,
      c.auth?.env?.iv ?? null,
      c.auth?.env?.ciphertext ?? null,
      c.auth?.env?.tag ?? null,
      c.defaultPolicy !== undefined,
      c.defaultPolicy ?? null,
      c.toolPolicies === undefined ? null : JSON.stringify(c.toolPolicies),
    ],
  );
  return one(rows);
}

export async function saveTools(
  tx: TenantTx,
  id: string,
  tools: unknown,
  ttlSeconds: number,
): Promise<McpServerSecretRow> {
  const { rows } = await tx.query<McpServerSecretRow>(
    `UPDATE mcp_servers SET tools = $3::jsonb, tools_at = now(),
       tools_expires_at = now() + make_interval(secs => $4), updated_at = now()
     WHERE tenant_id = $1 AND id = $2
     RETURNING ${SECRET_COLUMNS}`,
    [tx.tenantId, id, JSON.stringify(tools), ttlSeconds],
  );
  return one(rows);
}

export async function deleteServer(tx: TenantTx, id: string): Promise<void> {
  await tx.query(`DELETE FROM mcp_servers WHERE tenant_id = $1 AND id = $2`, [tx.tenantId, id]);
}

/** Keeps a dynamically registered OAuth client (its id in auth_meta, its secret sealed). */
export async function saveOAuthClient(
  tx: TenantTx,
  id: string,
  meta: Record<string, unknown>,
  env: Envelope | undefined,
): Promise<void> {
  await tx.query(
    `UPDATE mcp_servers SET auth_meta = $3::jsonb, credential_key_id = $4,
       credential_wrapped_key = $5, credential_iv = $6, credential_ciphertext = $7,
       credential_tag = $8, updated_at = now()
     WHERE tenant_id = $1 AND id = $2`,
    [
      tx.tenantId,
      id,
      JSON.stringify(meta),
      env?.keyId ?? null,
      env?.wrappedKey ?? null,
      env?.iv ?? null,
      env?.ciphertext ?? null,
      env?.tag ?? null,
    ],
  );
}
