import type { TenantTx } from '../platform/db/database.js';
import type { PagePosition } from '../platform/http/cursor.js';

/**
 * A user as one tenant sees it: the global identity (id and e-mail only) joined with that
 * tenant's membership, which holds everything else, the display name included.
 */
export interface MemberRow {
  id: string;
  email: string;
  display_name: string;
  role: string;
  groups: string[];
  joined_at: Date;
  /** False once deactivated (SCIM active=false): no credential of theirs verifies. */
  active: boolean;
}

const MEMBER_SELECT = `SELECT u.id, u.email, m.display_name, m.role, m.created_at AS joined_at, m.active,
    ARRAY(SELECT g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id
           WHERE gm.tenant_id = m.tenant_id AND gm.user_id = u.id ORDER BY g.name) AS groups
  FROM memberships m JOIN users u ON u.id = m.user_id`;

/**
 * Finds or creates the global identity for an e-mail through the SECURITY DEFINER function (the
 * app role cannot insert users). It carries no profile: nothing one tenant sets reaches another.
 */
export async function ensureUser(tx: TenantTx, email: string): Promise<string> {
  const { rows } = await tx.query<{ id: string }>('SELECT rampart_ensure_user($1) AS id', [email]);
  const id = rows[0]?.id;
  if (!id) throw new Error('rampart_ensure_user returned no id');
  return id;
}

/** Adds a membership with this tenant's profile of the user; false when they already belong to it. */
export async function insertMembership(
  tx: TenantTx,
  userId: string,
  role: string,
  displayName: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO memberships (tenant_id, user_id, role, display_name) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, user_id) DO NOTHING RETURNING user_id`,
    [tx.tenantId, userId, role, displayName],
  );
  return rows.length === 1;
}

export async function getMember(tx: TenantTx, userId: string): Promise<MemberRow | undefined> {
  const { rows } = await tx.query<MemberRow>(
    `${MEMBER_SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2`,
    [tx.tenantId, userId],
  );
  return rows[0];
}

/** Oldest first; `after` is the (created_at, user_id) of the last member already seen, at full precision. */
export async function listMembers(
  tx: TenantTx,
  opts: { after?: PagePosition | undefined; limit: number },
): Promise<(MemberRow & { position: string })[]> {
  const { rows } = await tx.query<MemberRow & { position: string }>(
    `SELECT x.*, to_char(x.joined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position
       FROM (${MEMBER_SELECT}
              WHERE m.tenant_id = $1
                AND ($2::timestamptz IS NULL OR (m.created_at, m.user_id) > ($2::timestamptz, $3::uuid))) x
      ORDER BY x.joined_at, x.id LIMIT $4`,
    [tx.tenantId, opts.after?.createdAt ?? null, opts.after?.id ?? null, opts.limit],
  );
  return rows;
}

export async function updateMemberRole(tx: TenantTx, userId: string, role: string): Promise<void> {
  await tx.query('UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2', [
    tx.tenantId,
    userId,
    role,
  ]);
}

/** Removes the membership (its group memberships go with it, by foreign key). */
export async function deleteMembership(tx: TenantTx, userId: string): Promise<boolean> {
  const { rows } = await tx.query(
    'DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2 RETURNING user_id',
    [tx.tenantId, userId],
  );
  return rows.length === 1;
}
