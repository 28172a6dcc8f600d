import type { TenantTx } from '../platform/db/database.js';
import type { PagePosition } from '../platform/http/cursor.js';

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
    `SELECT u.id, u.email, m.display_name FROM group_members gm JOIN users u ON u.id = gm.user_id
       JOIN memberships m ON m.tenant_id = gm.tenant_id AND m.user_id = gm.user_id
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

/**
 * Serialises changes to the tenant's set of group names against writes that name groups: those
 * hold it shared, group deletion exclusively, so a key or document can never be given a group
 * whose deletion has already swept the tenant. An advisory lock because the app role may not lock
 * groups rows (FOR SHARE needs UPDATE on the table); it ends with the transaction.
 */
export async function lockGroupNames(tx: TenantTx, mode: 'shared' | 'exclusive'): Promise<void> {
  const fn = mode === 'exclusive' ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared';
  await tx.query(`SELECT ${fn}(hashtextextended('rampart.groups:' || $1, 0))`, [tx.tenantId]);
}

/** The names among `names` that are groups of this tenant. */
export async function existingGroupNames(
  tx: TenantTx,
  names: readonly string[],
): Promise<Set<string>> {
  const { rows } = await tx.query<{ name: string }>(
    'SELECT name FROM groups WHERE tenant_id = $1 AND name = ANY($2::text[])',
    [tx.tenantId, [...names]],
  );
  return new Set(rows.map((r) => r.name));
}
