import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import { one } from '../platform/checked.js';

export async function localAccountsEnabled(tx: TenantTx): Promise<boolean> {
  const { rows } = await tx.query<{ local_accounts_enabled: boolean }>(
    'SELECT local_accounts_enabled FROM identity_settings WHERE tenant_id = $1',
    [tx.tenantId],
  );
  return rows[0]?.local_accounts_enabled ?? true;
}

export async function setLocalAccountsEnabled(tx: TenantTx, enabled: boolean): Promise<void> {
  await tx.query(
    `INSERT INTO identity_settings (tenant_id, local_accounts_enabled) VALUES ($1, $2)
     ON CONFLICT (tenant_id) DO UPDATE SET local_accounts_enabled = $2, updated_at = now()`,
    [tx.tenantId, enabled],
  );
}

export interface InvitationRow {
  id: string;
  email: string;
  role: string;
  display_name: string;
  created_by: string;
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
}

export async function insertInvitation(
  tx: TenantTx,
  i: {
    email: string;
    role: string;
    displayName: string;
    tokenHash: Buffer;
    createdBy: string;
    expiresAt: Date;
  },
): Promise<InvitationRow> {
  const { rows } = await tx.query<InvitationRow>(
    `INSERT INTO invitations (tenant_id, email, role, display_name, token_hash, created_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     RETURNING id, email, role, display_name, created_by, created_at, expires_at, accepted_at`,
    [tx.tenantId, i.email, i.role, i.displayName, i.tokenHash, i.createdBy, i.expiresAt],
  );
  return one(rows);
}

export interface FoundInvitationRow {
  id: string;
  tenant_id: string;
  tenant_slug: string;
  email: string;
  role: string;
  display_name: string;
  expires_at: Date;
  accepted_at: Date | null;
}

/** The invitation of a token, before any tenant is known (SECURITY DEFINER, migration 0026). */
export async function findInvitationByHash(
  op: OperatorTx,
  hash: Buffer,
): Promise<FoundInvitationRow | undefined> {
  const { rows } = await op.query<FoundInvitationRow>('SELECT * FROM rampart_find_invitation($1)', [
    hash,
  ]);
  return rows[0];
}

/** Marks the invitation used; false when it already was (a second use races the first). */
export async function acceptInvitation(tx: TenantTx, id: string): Promise<boolean> {
  const { rows } = await tx.query(
    `UPDATE invitations SET accepted_at = now()
      WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL RETURNING id`,
    [tx.tenantId, id],
  );
  return rows.length === 1;
}

export interface CredentialRow {
  user_id: string;
  password_hash: string;
  totp_secret: string | null;
  totp_pending: string | null;
  recovery_codes: Uint8Array[];
  failed_attempts: number;
  locked_until: Date | null;
}

const CREDENTIAL = `SELECT c.user_id, c.password_hash, c.totp_secret, c.totp_pending, c.recovery_codes,
    c.failed_attempts, c.locked_until FROM local_credentials c`;

export async function credentialByEmail(
  tx: TenantTx,
  email: string,
): Promise<CredentialRow | undefined> {
  const { rows } = await tx.query<CredentialRow>(
    `${CREDENTIAL} JOIN users u ON u.id = c.user_id
       JOIN memberships m ON m.tenant_id = c.tenant_id AND m.user_id = c.user_id
      WHERE c.tenant_id = $1 AND u.email = $2 AND m.active`,
    [tx.tenantId, email],
  );
  return rows[0];
}

export async function credentialOf(
  tx: TenantTx,
  userId: string,
): Promise<CredentialRow | undefined> {
  const { rows } = await tx.query<CredentialRow>(
    `${CREDENTIAL} WHERE c.tenant_id = $1 AND c.user_id = $2`,
    [tx.tenantId, userId],
  );
  return rows[0];
}

/** Sets (or replaces) the password; a reset also clears the second factor and any lock. Returns whether one existed. */
export async function setPassword(tx: TenantTx, userId: string, hash: string): Promise<boolean> {
  const { rows } = await tx.query<{ existed: boolean }>(
    `INSERT INTO local_credentials (tenant_id, user_id, password_hash) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, user_id) DO UPDATE SET password_hash = $3, totp_secret = NULL,
       totp_pending = NULL, recovery_codes = '{}', failed_attempts = 0, locked_until = NULL,
       password_changed_at = now()
     RETURNING (xmax <> 0) AS existed`,
    [tx.tenantId, userId, hash],
  );
  return rows[0]?.existed ?? false;
}

/** Counts a failure; returns the new count. */
export async function recordFailure(
  tx: TenantTx,
  userId: string,
  lockedUntil: (failures: number) => Date | null,
): Promise<number> {
  const { rows } = await tx.query<{ failed_attempts: number }>(
    `UPDATE local_credentials SET failed_attempts = failed_attempts + 1
      WHERE tenant_id = $1 AND user_id = $2 RETURNING failed_attempts`,
    [tx.tenantId, userId],
  );
  const n = rows[0]?.failed_attempts ?? 0;
  const until = lockedUntil(n);
  if (until)
    await tx.query(
      'UPDATE local_credentials SET locked_until = $3 WHERE tenant_id = $1 AND user_id = $2',
      [tx.tenantId, userId, until],
    );
  return n;
}

export async function clearFailures(tx: TenantTx, userId: string): Promise<void> {
  await tx.query(
    `UPDATE local_credentials SET failed_attempts = 0, locked_until = NULL
      WHERE tenant_id = $1 AND user_id = $2 AND (failed_attempts <> 0 OR locked_until IS NOT NULL)`,
    [tx.tenantId, userId],
  );
}

export async function setTotpPending(tx: TenantTx, userId: string, sealed: string): Promise<void> {
  await tx.query(
    'UPDATE local_credentials SET totp_pending = $3 WHERE tenant_id = $1 AND user_id = $2',
    [tx.tenantId, userId, sealed],
  );
}

export async function confirmTotp(
  tx: TenantTx,
  userId: string,
  recoveryHashes: Buffer[],
  usedStep: number,
): Promise<void> {
  await tx.query(
    `UPDATE local_credentials SET totp_secret = totp_pending, totp_pending = NULL, recovery_codes = $3,
        totp_last_step = $4
      WHERE tenant_id = $1 AND user_id = $2`,
    [tx.tenantId, userId, recoveryHashes, usedStep],
  );
}

/** Uses up one recovery code; false when it is not one of the member's. */
export async function useRecoveryCode(
  tx: TenantTx,
  userId: string,
  hash: Buffer,
): Promise<boolean> {
  const { rows } = await tx.query(
    `UPDATE local_credentials SET recovery_codes = array_remove(recovery_codes, $3)
      WHERE tenant_id = $1 AND user_id = $2 AND $3 = ANY(recovery_codes) RETURNING user_id`,
    [tx.tenantId, userId, hash],
  );
  return rows.length === 1;
}

/**
 * Accepts a TOTP code's time step only if it is later than the last one accepted (RFC 6238 §5.2:
 * a code is valid once); false when it, or a later one, was used already.
 */
export async function claimTotpStep(tx: TenantTx, userId: string, step: number): Promise<boolean> {
  const { rows } = await tx.query(
    `UPDATE local_credentials SET totp_last_step = $3
      WHERE tenant_id = $1 AND user_id = $2 AND (totp_last_step IS NULL OR totp_last_step < $3)
      RETURNING user_id`,
    [tx.tenantId, userId, step],
  );
  return rows.length === 1;
}
