import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import { one } from '../platform/checked.js';
import { KEY_EVENTS_CHANNEL, SESSION_EVENT, USER_EVENT } from './keys-store.js';

export interface SessionRow {
  id: string;
  user_id: string;
  method: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  ip: string | null;
  user_agent: string | null;
}

const COLUMNS =
  'id, user_id, method, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent';

export interface NewSession {
  userId: string;
  tokenHash: Buffer;
  method: 'oidc' | 'password';
  idleTimeoutS: number;
  expiresAt: Date;
  ip: string;
  userAgent: string | null;
}

export async function insertSession(tx: TenantTx, s: NewSession): Promise<SessionRow> {
  const { rows } = await tx.query<SessionRow>(
    `INSERT INTO sessions (tenant_id, user_id, token_hash, method, idle_timeout_s, expires_at, ip, user_agent)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      s.userId,
      s.tokenHash,
      s.method,
      s.idleTimeoutS,
      s.expiresAt,
      s.ip,
      s.userAgent?.slice(0, 500) ?? null,
    ],
  );
  return one(rows);
}

/** The user's live sessions, newest first. */
export async function listUserSessions(tx: TenantTx, userId: string): Promise<SessionRow[]> {
  const { rows } = await tx.query<SessionRow>(
    `SELECT ${COLUMNS} FROM sessions
      WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
        AND last_seen_at + make_interval(secs => idle_timeout_s) > now()
      ORDER BY created_at DESC LIMIT 100`,
    [tx.tenantId, userId],
  );
  return rows;
}

/**
 * Revokes one session (of `userId` when given) and tells every instance at commit; returns
 * whether a live session was revoked.
 */
export async function revokeSession(
  tx: TenantTx,
  id: string,
  userId: string | undefined,
): Promise<boolean> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE sessions SET revoked_at = now()
      WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR user_id = $3) AND revoked_at IS NULL
      RETURNING id, pg_notify($4, $5 || id::text)`,
    [tx.tenantId, id, userId ?? null, KEY_EVENTS_CHANNEL, SESSION_EVENT],
  );
  return rows.length === 1;
}

/** Revokes every live session of a user and tells every instance at commit; returns how many. */
export async function revokeUserSessions(tx: TenantTx, userId: string): Promise<number> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE sessions SET revoked_at = now()
      WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
        AND last_seen_at + make_interval(secs => idle_timeout_s) > now() RETURNING id`,
    [tx.tenantId, userId],
  );
  await tx.query('SELECT pg_notify($1, $2)', [KEY_EVENTS_CHANNEL, `${USER_EVENT}${userId}`]);
  return rows.length;
}

export async function touchSession(tx: TenantTx, id: string): Promise<void> {
  await tx.query('UPDATE sessions SET last_seen_at = now() WHERE tenant_id = $1 AND id = $2', [
    tx.tenantId,
    id,
  ]);
}

export interface VerifiedSessionRow {
  session_id: string;
  tenant_id: string;
  tenant_slug: string;
  user_id: string;
  role: string;
  groups: string[];
  last_seen_at: Date;
  idle_timeout_s: number;
  expires_at: Date;
  revoked_at: Date | null;
}

/** The pre-authentication lookup, through the narrow SECURITY DEFINER function (migration 0025). */
export async function findSessionByHash(
  tx: OperatorTx,
  hash: Buffer,
): Promise<VerifiedSessionRow | undefined> {
  const { rows } = await tx.query<VerifiedSessionRow>('SELECT * FROM rampart_verify_session($1)', [
    hash,
  ]);
  return rows[0];
}
