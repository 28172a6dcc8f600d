import { appendAuditEvent, type AuditEventInput } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { Conflict, NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { decodeCursor, paginate } from './cursor.js';
import {
  addGroupMember,
  deleteGroup,
  getGroup,
  insertGroup,
  listGroupMembers,
  listGroups,
  removeGroupMember,
  type GroupRow,
} from './groups-store.js';
import { notifyUserKeysChanged } from './keys-store.js';
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

/**
 * Groups of one tenant. Group names travel in principals (document visibility), so every
 * membership change evicts the affected users' cached key principals on every instance.
 */
export class GroupService {
  constructor(private readonly db: Database) {}

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

  async delete(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(principal, async (tx) => {
      const row = await getGroup(tx, id);
      if (!row) throw new NotFound('Group');
      const members = await listGroupMembers(tx, id);
      await deleteGroup(tx, id);
      for (const m of members) await notifyUserKeysChanged(tx, m.id);
      await this.#audit(tx, principal, meta, {
        action: 'group.deleted',
        target: { type: 'group', id },
        details: { name: row.name, members: members.map((m) => m.id) },
      });
    });
  }

  /** Idempotent: adding a member twice changes nothing and audits once. */
  async addMember(
    principal: Principal,
    groupId: string,
    userId: string,
    meta: RequestMeta,
  ): Promise<void> {
    return auditingRefusals(this.db, principal, meta, { type: 'group', id: groupId }, async () => {
      await this.db.withTenant(principal, async (tx) => {
        const { group } = await this.#resolve(tx, principal, groupId, userId);
        if (!(await addGroupMember(tx, groupId, userId))) return;
        await notifyUserKeysChanged(tx, userId);
        await this.#audit(tx, principal, meta, {
          action: 'group.member_added',
          target: { type: 'group', id: groupId },
          details: { group: group.name, userId },
        });
      });
    });
  }

  async removeMember(
    principal: Principal,
    groupId: string,
    userId: string,
    meta: RequestMeta,
  ): Promise<void> {
    return auditingRefusals(this.db, principal, meta, { type: 'group', id: groupId }, async () => {
      await this.db.withTenant(principal, async (tx) => {
        const { group } = await this.#resolve(tx, principal, groupId, userId);
        if (!(await removeGroupMember(tx, groupId, userId))) throw new NotFound('Group member');
        await notifyUserKeysChanged(tx, userId);
        await this.#audit(tx, principal, meta, {
          action: 'group.member_removed',
          target: { type: 'group', id: groupId },
          details: { group: group.name, userId },
        });
      });
    });
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
