import { auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { Conflict, NotFound } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { decodeCursor, paginate } from '../platform/http/cursor.js';
import { capUserKeyRoles, notifyUserKeysChanged, revokeUserKeys } from './keys-store.js';
import { rolesUpTo, type Role } from './permissions.js';
import { assertMayGrant, auditingRefusals } from './role-guard.js';
import {
  deleteMembership,
  ensureUser,
  getMember,
  insertMembership,
  listMembers,
  updateMemberRole,
  type MemberRow,
} from './users-store.js';

export interface UserView {
  id: string;
  email: string;
  displayName: string;
  role: string;
  groups: string[];
  joinedAt: string;
}

function toUserView(r: MemberRow): UserView {
  return {
    id: r.id,
    email: r.email,
    displayName: r.display_name,
    role: r.role,
    groups: r.groups,
    joinedAt: new Date(r.joined_at).toISOString(),
  };
}

/** The people of one tenant: memberships of global users, with this tenant's role and profile. */
export class UserService {
  constructor(private readonly db: Database) {}

  /** Adds a user (found or created by e-mail) to the caller's tenant with a role no higher than the caller's. */
  async add(
    principal: Principal,
    input: { email: string; displayName?: string | undefined; role: Role },
    meta: RequestMeta,
  ): Promise<UserView> {
    return auditingRefusals(this.db, principal, meta, { type: 'user', id: null }, async () => {
      assertMayGrant(principal, input.role);
      return this.db.withTenant(principal, async (tx) => {
        const userId = await ensureUser(tx, input.email);
        if (!(await insertMembership(tx, userId, input.role, input.displayName ?? ''))) {
          throw new Conflict(
            `${input.email} is already a member of this tenant.`,
            'already_member',
          );
        }
        await auditSuccess(
          tx,
          principal,
          meta,
          'user.added',
          { type: 'user', id: userId },
          { email: input.email, role: input.role },
        );
        const added = await getMember(tx, userId);
        if (!added) throw new NotFound('User');
        return toUserView(added);
      });
    });
  }

  async list(
    principal: Principal,
    opts: { cursor?: string | undefined; limit: number },
  ): Promise<{ data: UserView[]; nextCursor: string | null }> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    const rows = await this.db.withTenant(principal, (tx) =>
      listMembers(tx, { after, limit: opts.limit + 1 }),
    );
    return paginate(rows, opts.limit, toUserView);
  }

  async get(principal: Principal, id: string): Promise<UserView> {
    const row = await this.db.withTenant(principal, (tx) => getMember(tx, id));
    if (!row) throw new NotFound('User');
    return toUserView(row);
  }

  /**
   * Changes a member's role. The user's keys may not exceed it, so keys above the new role are
   * lowered to it, and every instance drops their cached principals.
   */
  async changeRole(
    principal: Principal,
    id: string,
    role: Role,
    meta: RequestMeta,
  ): Promise<UserView> {
    return auditingRefusals(this.db, principal, meta, { type: 'user', id }, async () => {
      assertMayGrant(principal, role);
      return this.db.withTenant(principal, async (tx) => {
        const before = await getMember(tx, id);
        if (!before) throw new NotFound('User');
        assertMayGrant(principal, before.role, 'change the role of a user with');
        if (before.role === role) return toUserView(before);
        await updateMemberRole(tx, id, role);
        const keysLowered = await capUserKeyRoles(tx, id, rolesUpTo(role), role);
        await notifyUserKeysChanged(tx, id);
        await auditSuccess(
          tx,
          principal,
          meta,
          'user.role_changed',
          { type: 'user', id },
          { role: { from: before.role, to: role }, keysLowered },
        );
        return toUserView({ ...before, role });
      });
    });
  }

  /** Removes the membership; the user's keys in this tenant are revoked with it. */
  async remove(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    return auditingRefusals(this.db, principal, meta, { type: 'user', id }, async () => {
      await this.db.withTenant(principal, async (tx) => {
        const before = await getMember(tx, id);
        if (!before) throw new NotFound('User');
        assertMayGrant(principal, before.role, 'remove a user with');
        const keysRevoked = await revokeUserKeys(tx, id);
        await notifyUserKeysChanged(tx, id);
        await deleteMembership(tx, id);
        await auditSuccess(
          tx,
          principal,
          meta,
          'user.removed',
          { type: 'user', id },
          { email: before.email, role: before.role, groups: before.groups, keysRevoked },
        );
      });
    });
  }
}
