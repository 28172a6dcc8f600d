import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import type { Queryable } from '../platform/db/types.js';
import { one } from '../platform/checked.js';
import { FAMILY_EVENT, KEY_EVENTS_CHANNEL } from './keys-store.js';

export interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: Record<string, unknown>;
  private_key: string;
  created_at: Date;
  retired_at: Date | null;
  expires_at: Date | null;
}

const KEY_COLUMNS = 'kid, alg, public_jwk, private_key, created_at, retired_at, expires_at';

/** Every signing key still published (not past expires_at), newest first. */
export async function publishedSigningKeys(tx: Queryable): Promise<SigningKeyRow[]> {
  const { rows } = await tx.query<SigningKeyRow>(
    `SELECT ${KEY_COLUMNS} FROM token_signing_keys
      WHERE expires_at IS NULL OR expires_at > now() ORDER BY created_at DESC, kid`,
  );
  return rows;
}

/** Serialises key rotation across instances until the transaction ends. */
export async function lockSigningKeys(tx: OperatorTx): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('rampart_token_signing_keys'))");
}

export async function insertSigningKey(
  tx: OperatorTx,
  k: { kid: string; publicJwk: Record<string, unknown>; privateKey: string },
): Promise<SigningKeyRow> {
  const { rows } = await tx.query<SigningKeyRow>(
    `INSERT INTO token_signing_keys (kid, alg, public_jwk, private_key) VALUES ($1, 'ES256', $2, $3)
     RETURNING ${KEY_COLUMNS}`,
    [k.kid, JSON.stringify(k.publicJwk), k.privateKey],
  );
  return one(rows);
}

/** Retires every signing key but `kid`: they sign no more and leave the JWKS at `expiresAt`. */
export async function retireSigningKeys(
  tx: OperatorTx,
  kid: string,
  expiresAt: Date,
): Promise<string[]> {
  const { rows } = await tx.query<{ kid: string }>(
    `UPDATE token_signing_keys SET retired_at = now(), expires_at = $2
      WHERE retired_at IS NULL AND kid <> $1 RETURNING kid`,
    [kid, expiresAt],
  );
  return rows.map((r) => r.kid);
}

export async function insertTokenFamily(
  tx: TenantTx,
  f: {
    userId: string;
    sessionId: string | null;
    audience: string;
    expiresAt: Date;
    /** The OAuth client the family is issued to (only it may refresh); null for a session grant. */
    clientId?: string | null;
  },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO token_families (tenant_id, user_id, session_id, audience, expires_at, client_id)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [tx.tenantId, f.userId, f.sessionId, f.audience, f.expiresAt, f.clientId ?? null],
  );
  return one(rows).id;
}

export async function insertRefreshToken(
  tx: TenantTx,
  r: { hash: Buffer; familyId: string; expiresAt: Date },
): Promise<void> {
  await tx.query(
    `INSERT INTO refresh_tokens (token_hash, tenant_id, family_id, expires_at) VALUES ($1, $2, $3, $4)`,
    [r.hash, tx.tenantId, r.familyId, r.expiresAt],
  );
}

export interface FoundRefreshTokenRow {
  tenant_id: string;
  family_id: string;
  user_id: string;
  audience: string;
  expires_at: Date;
  rotated_at: Date | null;
  family_expires_at: Date;
  family_revoked_at: Date | null;
  active: boolean;
  /** The OAuth client its family was issued to; null for a session grant (POST /auth/token). */
  client_id: string | null;
}

/** The pre-authentication lookup of a refresh token (SECURITY DEFINER, migrations 0040 and 0100). */
export async function findRefreshToken(
  tx: OperatorTx,
  hash: Buffer,
): Promise<FoundRefreshTokenRow | undefined> {
  const { rows } = await tx.query<FoundRefreshTokenRow>(
    'SELECT * FROM rampart_find_refresh_token($1)',
    [hash],
  );
  return rows[0];
}

/** Marks the token exchanged; false when another request exchanged it first. */
export async function markRefreshTokenRotated(tx: TenantTx, hash: Buffer): Promise<boolean> {
  const { rows } = await tx.query(
    `UPDATE refresh_tokens SET rotated_at = now()
      WHERE tenant_id = $1 AND token_hash = $2 AND rotated_at IS NULL RETURNING family_id`,
    [tx.tenantId, hash],
  );
  return rows.length === 1;
}

/** Revokes one family and tells every instance at commit; false when it was already revoked. */
export async function revokeTokenFamily(
  tx: TenantTx,
  familyId: string,
  reason: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    `UPDATE token_families SET revoked_at = now(), revoked_reason = $3
      WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL
      RETURNING id, pg_notify($4, $5 || id::text)`,
    [tx.tenantId, familyId, reason, KEY_EVENTS_CHANNEL, FAMILY_EVENT],
  );
  return rows.length === 1;
}

/**
 * Revokes the live families of a user (or of one session of theirs) and tells every instance at
 * commit; returns how many.
 */
export async function revokeUserTokenFamilies(
  tx: TenantTx,
  userId: string,
  reason: string,
  sessionId?: string,
): Promise<number> {
  const { rows } = await tx.query(
    `UPDATE token_families SET revoked_at = now(), revoked_reason = $4
      WHERE tenant_id = $1 AND user_id = $2 AND ($3::uuid IS NULL OR session_id = $3)
        AND revoked_at IS NULL AND expires_at > now()
      RETURNING id, pg_notify($5, $6 || id::text)`,
    [tx.tenantId, userId, sessionId ?? null, reason, KEY_EVENTS_CHANNEL, FAMILY_EVENT],
  );
  return rows.length;
}

export interface VerifiedFamilyRow {
  tenant_id: string;
  tenant_slug: string;
  user_id: string;
  session_id: string | null;
  role: string;
  groups: string[];
  audience: string;
  expires_at: Date;
  revoked_at: Date | null;
}

/** An access token's family with the member's role and groups (none for a deactivated member). */
export async function verifyTokenFamily(
  tx: OperatorTx,
  familyId: string,
): Promise<VerifiedFamilyRow | undefined> {
  const { rows } = await tx.query<VerifiedFamilyRow>(
    'SELECT * FROM rampart_verify_token_family($1)',
    [familyId],
  );
  return rows[0];
}
