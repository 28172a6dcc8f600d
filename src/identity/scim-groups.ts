import { appendAuditEvent } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { AppError, NotFound } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { addGroupMember, insertGroup, lockGroupNames, removeGroupMember } from './groups-store.js';
import type { GroupService } from './groups-service.js';
import { notifyUserKeysChanged } from './keys-store.js';
import {
  SCIM_ACTOR,
  assertIfMatch,
  isUuid,
  listPlan,
  type ListQuery,
  type OnUserChanged,
  type ScimMeta,
} from './scim-common.js';
import { ScimInvalid, groupChangeOf, type GroupChange, type PatchOperation } from './scim-patch.js';
import { groupResource, listResponse } from './scim-resources.js';
import {
  GROUP_FILTER,
  existingMemberIds,
  getScimGroup,
  listScimGroups,
  scimGroupMembers,
  updateScimGroup,
  type ScimGroupRow,
} from './scim-store.js';

export interface ScimGroupInput {
  displayName: string;
  externalId?: string | undefined;
  members?: { value: string }[] | undefined;
}

/** A Rampart group name for an IdP's display name ("Legal Team" → "Legal-Team"). */
export function groupNameFor(displayName: string): string {
  const name = displayName
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9_.:-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  if (!name) throw new ScimInvalid('displayName needs at least one letter or digit.');
  return name;
}

/**
 * SCIM Groups: the tenant's groups as its identity provider pushes them. Membership changes take
 * effect on the next request of each member on every instance (document and SQL visibility come
 * from group membership under RLS). Deleting a group goes through the group service, which also
 * takes it out of keys and documents (or refuses when a document would be left with no group).
 */
export class ScimGroups {
  constructor(
    private readonly db: Database,
    private readonly base: string,
    private readonly groups: GroupService,
    private readonly onUserChanged: OnUserChanged,
  ) {}

  async list(
    principal: Principal,
    q: ListQuery & { excludeMembers: boolean },
  ): Promise<Record<string, unknown>> {
    const plan = listPlan(q, GROUP_FILTER);
    const resources = await this.db.withTenant(principal, async (tx) => {
      const page = await listScimGroups(tx, plan.where, plan.params, plan);
      const members = q.excludeMembers
        ? []
        : await scimGroupMembers(
            tx,
            page.rows.map((r) => r.id),
          );
      return {
        total: page.total,
        items: page.rows.map((r) =>
          groupResource(
            r,
            q.excludeMembers ? undefined : members.filter((m) => m.group_id === r.id),
            this.base,
          ),
        ),
      };
    });
    return listResponse(resources.items, resources.total, plan.start);
  }

  async get(principal: Principal, id: string, excludeMembers = false) {
    return this.db.withTenant(principal, (tx) => this.#resource(tx, id, excludeMembers));
  }

  async create(principal: Principal, input: ScimGroupInput, meta: RequestMeta) {
    const name = groupNameFor(input.displayName);
    const changed: [string, string[]][] = [];
    const result = await this.db.withTenant(principal, async (tx) => {
      await lockGroupNames(tx, 'exclusive');
      const row = await insertGroup(tx, name);
      if (!row) throw new AppError(409, 'uniqueness', `A group named ${name} already exists.`);
      await updateScimGroup(tx, row.id, {
        displayName: input.displayName,
        externalId: input.externalId,
      });
      await appendAuditEvent(tx, {
        actor: SCIM_ACTOR,
        action: 'group.created',
        target: { type: 'group', id: row.id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { name, displayName: input.displayName, via: 'scim' },
      });
      const change = { add: (input.members ?? []).map((m) => m.value), remove: [] };
      changed.push(...(await this.#members(tx, row.id, name, change, meta)));
      return this.#resource(tx, row.id, false);
    });
    for (const [u, keys] of changed) this.onUserChanged(u, keys);
    return result;
  }

  replace(principal: Principal, id: string, input: ScimGroupInput, meta: ScimMeta) {
    return this.#change(principal, id, meta, {
      displayName: input.displayName,
      externalId: input.externalId ?? null,
      add: [],
      remove: [],
      replaceMembers: (input.members ?? []).map((m) => m.value),
    });
  }

  patch(principal: Principal, id: string, ops: readonly PatchOperation[], meta: ScimMeta) {
    return this.#change(principal, id, meta, groupChangeOf(ops));
  }

  async delete(principal: Principal, id: string, meta: ScimMeta): Promise<void> {
    if (!isUuid(id)) throw new NotFound('Group');
    const row = await this.db.withTenant(principal, (tx) => getScimGroup(tx, id));
    if (!row) throw new NotFound('Group');
    assertIfMatch(meta.ifMatch, row.version);
    // Taking the group out of documents must see every document that carries it, as an admin's
    // deletion does (documents:manage shows all metadata under RLS); only for this sweep.
    const sweeper: Principal = {
      ...principal,
      permissions: new Set([...principal.permissions, 'documents:manage']),
    };
    await this.groups.delete(sweeper, id, meta);
  }

  async #change(principal: Principal, id: string, meta: ScimMeta, change: GroupChange) {
    if (!isUuid(id)) throw new NotFound('Group');
    const changed: [string, string[]][] = [];
    const result = await this.db.withTenant(principal, async (tx) => {
      const before = await getScimGroup(tx, id);
      if (!before) throw new NotFound('Group');
      assertIfMatch(meta.ifMatch, before.version);
      await updateScimGroup(tx, id, change);
      if (change.displayName !== undefined && change.displayName !== before.display_name)
        await appendAuditEvent(tx, {
          actor: SCIM_ACTOR,
          action: 'group.renamed',
          target: { type: 'group', id },
          outcome: 'success',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { name: before.name, displayName: change.displayName, via: 'scim' },
        });
      changed.push(...(await this.#members(tx, id, before.name, change, meta)));
      return this.#resource(tx, id, false);
    });
    for (const [u, keys] of changed) this.onUserChanged(u, keys);
    return result;
  }

  /**
   * Adds and removes members (or replaces the list); audits each change; returns the users
   * changed with their keys (whose cached principals carry the user's groups).
   */
  async #members(
    tx: TenantTx,
    groupId: string,
    name: string,
    change: Pick<GroupChange, 'add' | 'remove' | 'replaceMembers'>,
    meta: RequestMeta,
  ): Promise<[string, string[]][]> {
    let add = change.add;
    let remove = change.remove;
    if (change.replaceMembers) {
      const current = (await scimGroupMembers(tx, [groupId])).map((m) => m.user_id);
      add = change.replaceMembers.filter((u) => !current.includes(u));
      remove = current.filter((u) => !change.replaceMembers?.includes(u));
    }
    const named = [...new Set([...add, ...remove])];
    const known = await existingMemberIds(tx, named.filter(isUuid));
    const unknown = add.filter((u) => !known.has(u));
    if (unknown.length > 0)
      throw new ScimInvalid(`Not members of this tenant: ${unknown.slice(0, 5).join(', ')}.`);
    const changed: [string, string[]][] = [];
    const record = async (userId: string, added: boolean) => {
      changed.push([userId, await notifyUserKeysChanged(tx, userId)]);
      await appendAuditEvent(tx, {
        actor: SCIM_ACTOR,
        action: added ? 'group.member_added' : 'group.member_removed',
        target: { type: 'group', id: groupId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { group: name, userId, via: 'scim' },
      });
    };
    for (const u of new Set(add)) if (await addGroupMember(tx, groupId, u)) await record(u, true);
    for (const u of new Set(remove))
      if (known.has(u) && (await removeGroupMember(tx, groupId, u))) await record(u, false);
    if (changed.length > 0) await updateScimGroup(tx, groupId, {});
    return changed;
  }

  async #resource(
    tx: TenantTx,
    id: string,
    excludeMembers: boolean,
  ): Promise<{ row: ScimGroupRow; resource: Record<string, unknown> }> {
    if (!isUuid(id)) throw new NotFound('Group');
    const row = await getScimGroup(tx, id);
    if (!row) throw new NotFound('Group');
    const members = excludeMembers ? undefined : await scimGroupMembers(tx, [id]);
    return { row, resource: groupResource(row, members, this.base) };
  }
}
