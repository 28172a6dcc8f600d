import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import { one } from '../platform/checked.js';
import type { FilterSchema } from './scim-filter.js';

export interface ScimUserRow {
  id: string;
  email: string;
  display_name: string;
  active: boolean;
  scim_external_id: string | null;
  scim_name: Record<string, unknown>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const USER_SELECT = `SELECT u.id, u.email, m.display_name, m.active, m.scim_external_id, m.scim_name,
    m.version, m.created_at, m.updated_at
  FROM memberships m JOIN users u ON u.id = m.user_id`;

/** The user attributes a SCIM filter may name, as SQL over memberships m and users u. */
export const USER_FILTER: FilterSchema = {
  columns: {
    id: { sql: 'u.id::text', type: 'text', caseExact: true },
    userName: { sql: 'u.email', type: 'text' },
    externalId: { sql: 'm.scim_external_id', type: 'text', caseExact: true },
    displayName: { sql: 'm.display_name', type: 'text' },
    active: { sql: 'm.active', type: 'bool' },
    'emails.value': { sql: 'u.email', type: 'text' },
    emails: { sql: 'u.email', type: 'text' },
    'name.givenName': { sql: "m.scim_name->>'givenName'", type: 'text' },
    'name.familyName': { sql: "m.scim_name->>'familyName'", type: 'text' },
    'meta.created': { sql: 'm.created_at', type: 'timestamptz' },
    'meta.lastModified': { sql: 'm.updated_at', type: 'timestamptz' },
  },
};

export interface ScimGroupRow {
  id: string;
  name: string;
  display_name: string | null;
  scim_external_id: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const GROUP_SELECT = `SELECT g.id, g.name, g.display_name, g.scim_external_id, g.version,
    g.created_at, g.updated_at FROM groups g`;

/** The group attributes a SCIM filter may name, as SQL over groups g. */
export const GROUP_FILTER: FilterSchema = {
  columns: {
    id: { sql: 'g.id::text', type: 'text', caseExact: true },
    displayName: { sql: 'coalesce(g.display_name, g.name)', type: 'text' },
    externalId: { sql: 'g.scim_external_id', type: 'text', caseExact: true },
    'meta.created': { sql: 'g.created_at', type: 'timestamptz' },
    'meta.lastModified': { sql: 'g.updated_at', type: 'timestamptz' },
  },
  collections: {
    members: {
      exists: (where) =>
        `EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = g.tenant_id AND gm.group_id = g.id AND ${where})`,
      columns: { value: { sql: 'gm.user_id::text', type: 'text', caseExact: true } },
    },
  },
};

export interface Page<R> {
  rows: R[];
  total: number;
}

/** One page (offset, limit) of the rows matching `where` (compiled by filterToSql over `params`). */
async function page<R>(
  tx: TenantTx,
  select: string,
  alias: string,
  where: string | undefined,
  params: unknown[],
  opts: { offset: number; limit: number; order: string },
): Promise<Page<R>> {
  const all = [tx.tenantId, ...params];
  // Placeholders in `where` count from $1 in `params`: shift them past the tenant id.
  const shifted = where?.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + 1}`);
  const filter = `${alias}.tenant_id = $1${shifted ? ` AND ${shifted}` : ''}`;
  const { rows } = await tx.query<R & { total: string }>(
    `SELECT x.*, count(*) OVER () AS total FROM (${select} WHERE ${filter}) x
      ORDER BY ${opts.order} OFFSET $${all.length + 1} LIMIT $${all.length + 2}`,
    [...all, opts.offset, opts.limit],
  );
  let total = Number(rows[0]?.total ?? 0);
  if (rows.length === 0 && opts.offset > 0) {
    const c = await tx.query<{ n: string }>(
      `SELECT count(*) AS n FROM (${select} WHERE ${filter}) x`,
      all,
    );
    total = Number(c.rows[0]?.n ?? 0);
  }
  return { rows, total };
}

export function listScimUsers(
  tx: TenantTx,
  where: string | undefined,
  params: unknown[],
  opts: { offset: number; limit: number },
): Promise<Page<ScimUserRow>> {
  return page(tx, USER_SELECT, 'm', where, params, { ...opts, order: 'x.created_at, x.id' });
}

export async function getScimUser(tx: TenantTx, id: string): Promise<ScimUserRow | undefined> {
  const { rows } = await tx.query<ScimUserRow>(
    `${USER_SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

/** Writes the given SCIM attributes of a member and moves its version on. */
export async function updateScimUser(
  tx: TenantTx,
  id: string,
  c: {
    displayName?: string | undefined;
    active?: boolean | undefined;
    externalId?: string | null | undefined;
    name?: Record<string, unknown> | undefined;
  },
): Promise<void> {
  await tx.query(
    `UPDATE memberships SET
        display_name = coalesce($3, display_name),
        active = coalesce($4, active),
        scim_external_id = CASE WHEN $5 THEN $6 ELSE scim_external_id END,
        scim_name = coalesce($7::jsonb, scim_name),
        version = version + 1, updated_at = now()
      WHERE tenant_id = $1 AND user_id = $2`,
    [
      tx.tenantId,
      id,
      c.displayName ?? null,
      c.active ?? null,
      c.externalId !== undefined,
      c.externalId ?? null,
      c.name === undefined ? null : JSON.stringify(c.name),
    ],
  );
}

export function listScimGroups(
  tx: TenantTx,
  where: string | undefined,
  params: unknown[],
  opts: { offset: number; limit: number },
): Promise<Page<ScimGroupRow>> {
  return page(tx, GROUP_SELECT, 'g', where, params, { ...opts, order: 'x.created_at, x.id' });
}

export async function getScimGroup(tx: TenantTx, id: string): Promise<ScimGroupRow | undefined> {
  const { rows } = await tx.query<ScimGroupRow>(
    `${GROUP_SELECT} WHERE g.tenant_id = $1 AND g.id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

/** The members of the groups, as (group, user, e-mail). */
export async function scimGroupMembers(
  tx: TenantTx,
  groupIds: readonly string[],
): Promise<{ group_id: string; user_id: string; email: string }[]> {
  const { rows } = await tx.query<{ group_id: string; user_id: string; email: string }>(
    `SELECT gm.group_id, gm.user_id, u.email FROM group_members gm JOIN users u ON u.id = gm.user_id
      WHERE gm.tenant_id = $1 AND gm.group_id = ANY($2::uuid[]) ORDER BY u.email`,
    [tx.tenantId, [...groupIds]],
  );
  return rows;
}

export async function updateScimGroup(
  tx: TenantTx,
  id: string,
  c: { displayName?: string | undefined; externalId?: string | null | undefined },
): Promise<void> {
  await tx.query(
    `UPDATE groups SET
        display_name = coalesce($3, display_name),
        scim_external_id = CASE WHEN $4 THEN $5 ELSE scim_external_id END,
        version = version + 1, updated_at = now()
      WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id, c.displayName ?? null, c.externalId !== undefined, c.externalId ?? null],
  );
}

/** Which of `ids` are members of this tenant. */
export async function existingMemberIds(
  tx: TenantTx,
  ids: readonly string[],
): Promise<Set<string>> {
  const { rows } = await tx.query<{ user_id: string }>(
    `SELECT user_id FROM memberships WHERE tenant_id = $1 AND user_id::text = ANY($2::text[])`,
    [tx.tenantId, [...ids]],
  );
  return new Set(rows.map((r) => r.user_id));
}

export interface ScimTokenRow {
  id: string;
  prefix: string;
  created_by: string;
  created_at: Date;
}

/** Creates or replaces the tenant's SCIM token (only its keyed hash is kept). */
export async function upsertScimToken(
  tx: TenantTx,
  t: { hash: Buffer; prefix: string; createdBy: string },
): Promise<ScimTokenRow> {
  const { rows } = await tx.query<ScimTokenRow>(
    `INSERT INTO scim_tokens (tenant_id, token_hash, prefix, created_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id) DO UPDATE SET id = gen_random_uuid(), token_hash = $2, prefix = $3,
       created_by = $4, created_at = now()
     RETURNING id, prefix, created_by, created_at`,
    [tx.tenantId, t.hash, t.prefix, t.createdBy],
  );
  return one(rows);
}

export async function getScimToken(tx: TenantTx): Promise<ScimTokenRow | undefined> {
  const { rows } = await tx.query<ScimTokenRow>(
    'SELECT id, prefix, created_by, created_at FROM scim_tokens WHERE tenant_id = $1',
    [tx.tenantId],
  );
  return rows[0];
}

export async function deleteScimToken(tx: TenantTx): Promise<boolean> {
  const { rows } = await tx.query('DELETE FROM scim_tokens WHERE tenant_id = $1 RETURNING id', [
    tx.tenantId,
  ]);
  return rows.length === 1;
}

export interface VerifiedScimTokenRow {
  token_id: string;
  tenant_id: string;
  tenant_slug: string;
}

/** The pre-authentication lookup (SECURITY DEFINER, migration 0041). */
export async function findScimToken(
  tx: OperatorTx,
  hash: Buffer,
): Promise<VerifiedScimTokenRow | undefined> {
  const { rows } = await tx.query<VerifiedScimTokenRow>(
    'SELECT * FROM rampart_verify_scim_token($1)',
    [hash],
  );
  return rows[0];
}
