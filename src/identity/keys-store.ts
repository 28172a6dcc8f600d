import type { Limits } from '../platform/http/limits-schema.js';
import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import { one } from '../platform/checked.js';

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  user_id: string | null;
  name: string;
  prefix: string;
  role: string;
  groups: string[];
  created_by: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const COLUMNS =
  'id, tenant_id, user_id, name, prefix, role, groups, created_by, expires_at, revoked_at, created_at';

export interface NewApiKey {
  userId: string | null;
  name: string;
  prefix: string;
  secretHash: Buffer;
  role: string;
  groups: readonly string[];
  createdBy: string;
  expiresAt: Date | null;
}

export async function insertApiKey(tx: TenantTx, k: NewApiKey): Promise<ApiKeyRow> {
  const { rows } = await tx.query<ApiKeyRow>(
    `INSERT INTO api_keys (tenant_id, user_id, name, prefix, secret_hash, role, groups, created_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      k.userId,
      k.name,
      k.prefix,
      k.secretHash,
      k.role,
      [...k.groups],
      k.createdBy,
      k.expiresAt,
    ],
  );
  return one(rows);
}

export interface KeysPosition {
  createdAt: string;
  id: string;
}

/** A listed key: its row with its gateway policy (key_limits; none stored: every model, no limits). */
export type ListedApiKeyRow = ApiKeyRow & {
  position: string;
  models: string[] | null;
  limits: Limits;
};

/** Newest first; `after` is the (created_at, id) of the last row already seen, at full precision. */
export async function listApiKeys(
  tx: TenantTx,
  opts: { includeRevoked: boolean; after?: KeysPosition | undefined; limit: number },
): Promise<ListedApiKeyRow[]> {
  // Correlated lookups rather than a join: both tables have tenant_id, and COLUMNS stays unqualified.
  // Written only through setKeyLimits, from a LimitsSchema-validated body.
  const { rows } = await tx.query<ListedApiKeyRow>(
    `SELECT ${COLUMNS}, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position,
        (SELECT kl.models FROM key_limits kl WHERE kl.tenant_id = $1 AND kl.key_id = api_keys.id) AS models,
        coalesce((SELECT kl.limits FROM key_limits kl WHERE kl.tenant_id = $1 AND kl.key_id = api_keys.id), '{}'::jsonb) AS limits
      FROM api_keys
      WHERE tenant_id = $1 AND ($2::boolean OR revoked_at IS NULL)
        AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $5`,
    [
      tx.tenantId,
      opts.includeRevoked,
      opts.after?.createdAt ?? null,
      opts.after?.id ?? null,
      opts.limit,
    ],
  );
  return rows;
}

export async function getApiKey(tx: TenantTx, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await tx.query<ApiKeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export async function revokeApiKey(tx: TenantTx, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await tx.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export async function updateApiKey(
  tx: TenantTx,
  id: string,
  patch: {
    name?: string | undefined;
    role?: string | undefined;
    groups?: readonly string[] | undefined;
  },
): Promise<ApiKeyRow | undefined> {
  const { rows } = await tx.query<ApiKeyRow>(
    `UPDATE api_keys SET name = coalesce($3, name), role = coalesce($4, role), groups = coalesce($5, groups)
      WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      id,
      patch.name ?? null,
      patch.role ?? null,
      patch.groups ? [...patch.groups] : null,
    ],
  );
  return rows[0];
}

export interface VerifiedKeyRow {
  key_id: string;
  tenant_id: string;
  tenant_slug: string;
  user_id: string | null;
  role: string;
  groups: string[];
  expires_at: Date | null;
  revoked_at: Date | null;
}

/** The pre-authentication lookup, through the narrow SECURITY DEFINER function. */
export async function findKeyByHash(
  tx: OperatorTx,
  hash: Buffer,
): Promise<VerifiedKeyRow | undefined> {
  const { rows } = await tx.query<VerifiedKeyRow>('SELECT * FROM rampart_verify_api_key($1)', [
    hash,
  ]);
  return rows[0];
}

export const KEY_EVENTS_CHANNEL = 'rampart_api_keys';
/** Payload prefix of the notification a new key sends (trigger api_keys_issued, migration 0012). */
export const KEY_ISSUED_EVENT = 'issued:';
/** Payload prefix: drop every cached session verification of this user (role, groups, removal). */
export const USER_EVENT = 'user:';
/** Payload prefix: drop the cached verification of this session (revoked). */
export const SESSION_EVENT = 'session:';
/** Payload prefix: drop the cached verification of this refresh-token family's access tokens. */
export const FAMILY_EVENT = 'family:';

/** Prefixes of every live key, for the in-memory prefix set (narrow SECURITY DEFINER function). */
export async function liveKeyPrefixes(tx: OperatorTx): Promise<string[]> {
  const { rows } = await tx.query<{ prefix: string }>(
    'SELECT rampart_live_api_key_prefixes() AS prefix',
  );
  return rows.map((r) => r.prefix);
}

/** Tells every instance (at commit) to drop its cached verification of this key. */
export async function notifyKeyChanged(tx: TenantTx, keyId: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [KEY_EVENTS_CHANNEL, keyId]);
}

/**
 * Tells every instance to drop the cached verifications of all of a user's keys: their
 * principals carry the user's groups, which just changed. Returns the keys notified.
 */
export async function notifyUserKeysChanged(tx: TenantTx, userId: string): Promise<string[]> {
  // The user's sessions carry the same role and groups: their cached verifications go too.
  await tx.query('SELECT pg_notify($1, $2)', [KEY_EVENTS_CHANNEL, `${USER_EVENT}${userId}`]);
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id, pg_notify($1, id::text) FROM api_keys WHERE tenant_id = $2 AND user_id = $3`,
    [KEY_EVENTS_CHANNEL, tx.tenantId, userId],
  );
  return rows.map((r) => r.id);
}

/** Lowers the user's live keys whose role is not among `allowed` to `role`; returns their ids. */
export async function capUserKeyRoles(
  tx: TenantTx,
  userId: string,
  allowed: readonly string[],
  role: string,
): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE api_keys SET role = $4
      WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND NOT (role = ANY($3::text[]))
      RETURNING id`,
    [tx.tenantId, userId, [...allowed], role],
  );
  return rows.map((r) => r.id);
}

/** Revokes every live key bound to the user (they left the tenant); returns their ids. */
export async function revokeUserKeys(tx: TenantTx, userId: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE api_keys SET revoked_at = now()
      WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id`,
    [tx.tenantId, userId],
  );
  return rows.map((r) => r.id);
}

/** Sets a key's gateway model allow-list and/or limits (table key_limits); a field left undefined keeps its stored value. */
export async function setKeyLimits(
  tx: TenantTx,
  keyId: string,
  patch: { models?: string[] | null | undefined; limits?: Limits | undefined },
): Promise<void> {
  await tx.query(
    `INSERT INTO key_limits (key_id, tenant_id, models, limits)
     VALUES ($2, $1, $3::text[], coalesce($4::jsonb, '{}'))
     ON CONFLICT (key_id) DO UPDATE SET
       models = CASE WHEN $5 THEN excluded.models ELSE key_limits.models END,
       limits = coalesce($4::jsonb, key_limits.limits), updated_at = now()`,
    [
      tx.tenantId,
      keyId,
      patch.models ?? null,
      patch.limits ? JSON.stringify(patch.limits) : null,
      patch.models !== undefined,
    ],
  );
}

/** A key's gateway model allow-list (null: every model) and limits ({}: none of its own). */
export async function getKeyLimits(
  tx: TenantTx,
  keyId: string,
): Promise<{ models: string[] | null; limits: Limits }> {
  // Written only through setKeyLimits, from a LimitsSchema-validated body.
  const { rows } = await tx.query<{ models: string[] | null; limits: Limits }>(
    `SELECT models, limits FROM key_limits WHERE tenant_id = $1 AND key_id = $2`,
    [tx.tenantId, keyId],
  );
  return rows[0] ?? { models: null, limits: {} };
}

/** Takes a deleted group out of every key of the tenant (revoked ones too); returns their ids. */
export async function removeGroupFromKeys(tx: TenantTx, group: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE api_keys SET groups = array_remove(groups, $2)
      WHERE tenant_id = $1 AND $2 = ANY(groups) RETURNING id`,
    [tx.tenantId, group],
  );
  return rows.map((r) => r.id);
}
