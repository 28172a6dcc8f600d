import type { TenantTx } from '../platform/db/database.js';
import type { PagePosition } from './cursor.js';

export interface GroupRow {
  id: string;
  name: string;
  member_count: number;
  created_at: Date;
}

export interface GroupMemberRow {
  id: string;
  email: string;
  display_name: string;
}

const GROUP_SELECT = `SELECT g.id, g.name, g.created_at,
    (SELECT count(*)::int FROM group_members gm WHERE gm.tenant_id = g.tenant_id AND gm.group_id = g.id) AS member_count
  FROM groups g`;

/** Creates a group; undefined when the tenant already has one of that name. */
export async function insertGroup(tx: TenantTx, name: string): Promise<GroupRow | undefined> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO groups (tenant_id, name) VALUES ($1, $2)
     ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id`,
    [tx.tenantId, name],
  );
  return rows[0] ? getGroup(tx, rows[0].id) : undefined;
}

export async function getGroup(tx: TenantTx, id: string): Promise<GroupRow | undefined> {
  const { rows } = await tx.query<GroupRow>(
    `${GROUP_SELECT} WHERE g.tenant_id = $1 AND g.id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

/** Oldest first; `after` is the (created_at, id) of the last group already seen, at full precision. */
export async function listGroups(
  tx: TenantTx,
  opts: { after?: PagePosition | undefined; limit: number },
): Promise<(GroupRow & { position: string })[]> {
  const { rows } = await tx.query<GroupRow & { position: string }>(
    `SELECT x.*, to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position
       FROM (${GROUP_SELECT}
              WHERE g.tenant_id = $1
                AND ($2::timestamptz IS NULL OR (g.created_at, g.id) > ($2::timestamptz, $3::uuid))) x
      ORDER BY x.created_at, x.id LIMIT $4`,
    [tx.tenantId, opts.after?.createdAt ?? null, opts.after?.id ?? null, opts.limit],
  );
  return rows;
}

export async function listGroupMembers(tx: TenantTx, groupId: string): Promise<GroupMemberRow[]> {
  const { rows } = await tx.query<GroupMemberRow>(
    `SELECT u.id, u.email, u.display_name FROM group_members gm JOIN users u ON u.id = gm.user_id
      WHERE gm.tenant_id = $1 AND gm.group_id = $2 ORDER BY u.email`,
    [tx.tenantId, groupId],
  );
  return rows;
}

/** Deletes the group (its memberships go with it, by foreign key). */
export async function deleteGroup(tx: TenantTx, id: string): Promise<boolean> {
  const { rows } = await tx.query(
    'DELETE FROM groups WHERE tenant_id = $1 AND id = $2 RETURNING id',
    [tx.tenantId, id],
  );
  return rows.length === 1;
}

/** True when the user was not yet in the group. */
export async function addGroupMember(
  tx: TenantTx,
  groupId: string,
  userId: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO group_members (tenant_id, group_id, user_id) VALUES ($1, $2, $3)
     ON CONFLICT (group_id, user_id) DO NOTHING RETURNING user_id`,
    [tx.tenantId, groupId, userId],
  );
  return rows.length === 1;
}

export async function removeGroupMember(
  tx: TenantTx,
  groupId: string,
  userId: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    'DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3 RETURNING user_id',
    [tx.tenantId, groupId, userId],
  );
  return rows.length === 1;
}
