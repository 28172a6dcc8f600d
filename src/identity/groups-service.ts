import { appendAuditEvent, type AuditEventInput } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { AppError, Conflict, NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { decodeCursor, paginate } from '../platform/http/cursor.js';
import {
  addGroupMember,
  deleteGroup,
  existingGroupNames,
  getGroup,
  insertGroup,
  listGroupMembers,
  listGroups,
  lockGroupNames,
  removeGroupMember,
  type GroupRow,
} from './groups-store.js';
import { notifyKeyChanged, notifyUserKeysChanged, removeGroupFromKeys } from './keys-store.js';
import { assertMayGrant, auditingRefusals } from './role-guard.js';
import { getMember } from './users-store.js';

export interface GroupView {
  id: string;
  name: string;
  memberCount: number;
  createdAt: string;
}

export interface GroupDetail extends GroupView {
  members: { id: string; email: string; displayName: string }[];
}

function toGroupView(r: GroupRow): GroupView {
  return {
    id: r.id,
    name: r.name,
    memberCount: r.member_count,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

type Change = Pick<AuditEventInput, 'action' | 'target' | 'details'>;

/** 400 unknown_group: a key, user or document was given groups the tenant does not have. */
export class UnknownGroup extends AppError {
  constructor(readonly groups: readonly string[]) {
    super(
      400,
      'unknown_group',
      `Unknown group(s): ${groups.join(', ')}. Create them first (POST /v1/groups).`,
      { groups: [...groups] },
    );
  }
}

/** 409 group_in_use: deleting the group would leave records with no group, i.e. tenant-wide. */
export class GroupInUse extends AppError {
  constructor(message: string, extra: Record<string, unknown>) {
    super(409, 'group_in_use', message, extra);
  }
}

/**
 * Refuses names that are not groups of the tenant, and holds the tenant's group names (shared)
 * until the transaction ends, so none of them can be deleted before the caller's write commits.
 */
export async function assertKnownGroups(tx: TenantTx, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await lockGroupNames(tx, 'shared');
  const known = await existingGroupNames(tx, names);
  const unknown = [...new Set(names)].filter((n) => !known.has(n)).sort();
  if (unknown.length > 0) throw new UnknownGroup(unknown);
}

/** Holds the tenant's group names (shared) until the transaction ends; see assertKnownGroups. */
export function holdGroupNames(tx: TenantTx): Promise<void> {
  return lockGroupNames(tx, 'shared');
}

/**
 * What another feature does with a group that is being deleted, inside the deleting transaction
 * (the knowledge hub: documents filed under it). Wired by the composition root, so identity does
 * not import the features that use groups.
 */
export interface GroupRemoval {
  /** Refuses (throws) when removing the group would leave a record with no group at all. */
  assertRemovable(tx: TenantTx, group: string): Promise<void>;
  /** Takes the group out of every record; returns how many changed. */
  remove(tx: TenantTx, group: string): Promise<number>;
}

export interface GroupServiceDeps {
  removals?: Record<string, GroupRemoval>;
  /** Called after commit with keys whose principals changed, so this instance drops them at once (others by NOTIFY). */
  onKeysChanged?: (keyIds: readonly string[]) => void;
}

/**
 * Groups of one tenant. Group names travel in principals (document visibility), so every
 * membership change evicts the affected users' cached key principals on every instance.
 */
export class GroupService {
  constructor(
    private readonly db: Database,
    private readonly deps: GroupServiceDeps = {},
  ) {}

  async create(principal: Principal, name: string, meta: RequestMeta): Promise<GroupView> {
    return this.db.withTenant(principal, async (tx) => {
      const row = await insertGroup(tx, name);
      if (!row) throw new Conflict(`A group named '${name}' already exists.`, 'group_exists');
      await this.#audit(tx, principal, meta, {
        action: 'group.created',
        target: { type: 'group', id: row.id },
        details: { name },
      });
      return toGroupView(row);
    });
  }

  async list(
    principal: Principal,
    opts: { cursor?: string | undefined; limit: number },
  ): Promise<{ data: GroupView[]; nextCursor: string | null }> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    const rows = await this.db.withTenant(principal, (tx) =>
      listGroups(tx, { after, limit: opts.limit + 1 }),
    );
    return paginate(rows, opts.limit, toGroupView);
  }

  async get(principal: Principal, id: string): Promise<GroupDetail> {
    return this.db.withTenant(principal, async (tx) => {
      const row = await getGroup(tx, id);
      if (!row) throw new NotFound('Group');
      const members = await listGroupMembers(tx, id);
      return {
        ...toGroupView(row),
        members: members.map((m) => ({ id: m.id, email: m.email, displayName: m.display_name })),
      };
    });
  }

  /**
   * Deletes the group and takes it out of everything that carried it, in one transaction: its
   * members (by foreign key), API keys, and other features' records (documents). Every affected
   * key's cached principal is dropped on every instance. Refused (409 group_in_use) when a record
   * would be left with no group, since no group means tenant-wide.
   */
  async delete(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    const changedKeys = await this.db.withTenant(principal, async (tx) => {
      // Exclusive: no key or document can be given this name while the sweep runs.
      await lockGroupNames(tx, 'exclusive');
      const row = await getGroup(tx, id);
      if (!row) throw new NotFound('Group');
      const removals = Object.entries(this.deps.removals ?? {});
      for (const [, r] of removals) await r.assertRemovable(tx, row.name);
      const members = await listGroupMembers(tx, id);
      await deleteGroup(tx, id);
      const keys = await removeGroupFromKeys(tx, row.name);
      const touched: Record<string, number> = {};
      for (const [what, r] of removals) touched[what] = await r.remove(tx, row.name);
      const notified = new Set(keys);
      for (const k of keys) await notifyKeyChanged(tx, k);
      for (const m of members)
        for (const k of await notifyUserKeysChanged(tx, m.id)) notified.add(k);
      await this.#audit(tx, principal, meta, {
        action: 'group.deleted',
        target: { type: 'group', id },
        details: {
          name: row.name,
          members: members.map((m) => m.id),
          counts: { users: members.length, keys: keys.length, ...touched },
        },
      });
      return [...notified];
    });
    this.deps.onKeysChanged?.(changedKeys);
  }

  /** Idempotent: adding a member twice changes nothing and audits once. */
  async addMember(
    principal: Principal,
    groupId: string,
    userId: string,
    meta: RequestMeta,
  ): Promise<void> {
    let changed: string[] = [];
    await auditingRefusals(this.db, principal, meta, { type: 'group', id: groupId }, async () => {
      await this.db.withTenant(principal, async (tx) => {
        const { group } = await this.#resolve(tx, principal, groupId, userId);
        if (!(await addGroupMember(tx, groupId, userId))) return;
        changed = await notifyUserKeysChanged(tx, userId);
        await this.#audit(tx, principal, meta, {
          action: 'group.member_added',
          target: { type: 'group', id: groupId },
          details: { group: group.name, userId },
        });
      });
    });
    this.deps.onKeysChanged?.(changed);
  }

  async removeMember(
    principal: Principal,
    groupId: string,
    userId: string,
    meta: RequestMeta,
  ): Promise<void> {
    let changed: string[] = [];
    await auditingRefusals(this.db, principal, meta, { type: 'group', id: groupId }, async () => {
      await this.db.withTenant(principal, async (tx) => {
        const { group } = await this.#resolve(tx, principal, groupId, userId);
        if (!(await removeGroupMember(tx, groupId, userId))) throw new NotFound('Group member');
        changed = await notifyUserKeysChanged(tx, userId);
        await this.#audit(tx, principal, meta, {
          action: 'group.member_removed',
          target: { type: 'group', id: groupId },
          details: { group: group.name, userId },
        });
      });
    });
    this.deps.onKeysChanged?.(changed);
  }

  /** Both ids must exist in this tenant, and the caller may not change someone above them. */
  async #resolve(
    tx: TenantTx,
    principal: Principal,
    groupId: string,
    userId: string,
  ): Promise<{ group: GroupRow }> {
    const group = await getGroup(tx, groupId);
    if (!group) throw new NotFound('Group');
    const member = await getMember(tx, userId);
    if (!member) throw new NotFound('User');
    assertMayGrant(principal, member.role, 'change the groups of a user with');
    return { group };
  }

  #audit(tx: TenantTx, principal: Principal, meta: RequestMeta, change: Change): Promise<unknown> {
    return appendAuditEvent(tx, {
      ...change,
      actor: actorOf(principal),
      outcome: 'success',
      ip: meta.ip,
      requestId: meta.requestId,
    });
  }
}
