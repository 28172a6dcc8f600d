import { appendAuditEvent } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { AppError, NotFound } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { notifyUserKeysChanged, revokeUserKeys } from './keys-store.js';
import {
  SCIM_ACTOR,
  assertIfMatch,
  isUuid,
  listPlan,
  type ListQuery,
  type OnUserChanged,
  type ScimMeta,
} from './scim-common.js';
import { ScimInvalid, userChangeOf, type PatchOperation, type UserChange } from './scim-patch.js';
import { listResponse, userResource } from './scim-resources.js';
import {
  USER_FILTER,
  getScimUser,
  listScimUsers,
  updateScimUser,
  type ScimUserRow,
} from './scim-store.js';
import { revokeUserSessions } from './sessions-store.js';
import { revokeUserTokenFamilies } from './tokens-store.js';
import { deleteMembership, ensureUser, insertMembership } from './users-store.js';

/** A user as POST and PUT send it; attributes Rampart does not keep are ignored. */
export interface ScimUserInput {
  userName: string;
  externalId?: string | undefined;
  displayName?: string | undefined;
  active?: boolean | undefined;
  name?: Record<string, string | null> | undefined;
  emails?: { value: string; primary?: boolean | undefined }[] | undefined;
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** The e-mail address a SCIM user is: its userName when that is one, else its primary e-mail. */
function emailOf(input: ScimUserInput): string {
  if (EMAIL.test(input.userName)) return input.userName.toLowerCase();
  const primary = input.emails?.find((e) => e.primary) ?? input.emails?.[0];
  if (primary && EMAIL.test(primary.value)) return primary.value.toLowerCase();
  throw new ScimInvalid('userName (or a primary e-mail) must be an e-mail address.');
}

/**
 * SCIM Users: the tenant's members as its identity provider provisions them. Deactivating
 * (active=false) or deleting a member ends their sessions, access and refresh tokens and the
 * API keys bound to them in the same transaction, and every instance drops its cached copies.
 */
export class ScimUsers {
  constructor(
    private readonly db: Database,
    private readonly base: string,
    private readonly onUserChanged: OnUserChanged,
  ) {}

  async list(principal: Principal, q: ListQuery): Promise<Record<string, unknown>> {
    const plan = listPlan(q, USER_FILTER);
    const page = await this.db.withTenant(principal, (tx) =>
      listScimUsers(tx, plan.where, plan.params, plan),
    );
    return listResponse(
      page.rows.map((r) => userResource(r, this.base)),
      page.total,
      plan.start,
    );
  }

  async get(principal: Principal, id: string): Promise<ScimUserRow> {
    if (!isUuid(id)) throw new NotFound('User');
    const row = await this.db.withTenant(principal, (tx) => getScimUser(tx, id));
    if (!row) throw new NotFound('User');
    return row;
  }

  resource(row: ScimUserRow): Record<string, unknown> {
    return userResource(row, this.base);
  }

  async create(
    principal: Principal,
    input: ScimUserInput,
    meta: RequestMeta,
  ): Promise<ScimUserRow> {
    const email = emailOf(input);
    return this.db.withTenant(principal, async (tx) => {
      const id = await ensureUser(tx, email);
      if (!(await insertMembership(tx, id, 'member', input.displayName ?? '')))
        throw new AppError(409, 'uniqueness', `${email} is already a member of this tenant.`);
      await updateScimUser(tx, id, {
        externalId: input.externalId,
        name: input.name,
        active: input.active,
      });
      await appendAuditEvent(tx, {
        actor: SCIM_ACTOR,
        action: 'user.provisioned',
        target: { type: 'user', id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { email, via: 'scim', active: input.active ?? true },
      });
      return this.#row(tx, id);
    });
  }

  /** PUT: the given attributes replace the stored ones. */
  replace(principal: Principal, id: string, input: ScimUserInput, meta: ScimMeta) {
    return this.#change(principal, id, meta, {
      userName: emailOf(input),
      displayName: input.displayName ?? '',
      externalId: input.externalId ?? null,
      name: input.name ?? {},
      active: input.active ?? true,
    });
  }

  patch(principal: Principal, id: string, ops: readonly PatchOperation[], meta: ScimMeta) {
    return this.#change(principal, id, meta, userChangeOf(ops));
  }

  /** Removes the member: their sessions, tokens and keys end first. */
  async delete(principal: Principal, id: string, meta: ScimMeta): Promise<void> {
    const keys = await this.db.withTenant(principal, async (tx) => {
      const before = await this.#row(tx, id);
      assertIfMatch(meta.ifMatch, before.version);
      const revoked = await this.#cutOff(tx, id, 'deprovisioned');
      await deleteMembership(tx, id);
      await appendAuditEvent(tx, {
        actor: SCIM_ACTOR,
        action: 'user.removed',
        target: { type: 'user', id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { email: before.email, via: 'scim', ...revoked.counts },
      });
      return revoked.keys;
    });
    this.onUserChanged(id, keys);
  }

  async #change(
    principal: Principal,
    id: string,
    meta: ScimMeta,
    change: UserChange,
  ): Promise<ScimUserRow> {
    let keys: string[] = [];
    const row = await this.db.withTenant(principal, async (tx) => {
      const before = await this.#row(tx, id);
      assertIfMatch(meta.ifMatch, before.version);
      if (change.userName !== undefined && change.userName.toLowerCase() !== before.email)
        throw new ScimInvalid(
          'userName is the member’s e-mail address and cannot change; deprovision and provision the new address.',
          'mutability',
        );
      const name = change.name ? { ...before.scim_name, ...change.name } : undefined;
      await updateScimUser(tx, id, { ...change, name });
      const audit = { actor: SCIM_ACTOR, outcome: 'success' as const, ip: meta.ip };
      const target = { type: 'user', id };
      if (change.active === false && before.active) {
        const revoked = await this.#cutOff(tx, id, 'deactivated');
        keys = revoked.keys;
        await appendAuditEvent(tx, {
          ...audit,
          action: 'user.deactivated',
          target,
          requestId: meta.requestId,
          details: { via: 'scim', ...revoked.counts },
        });
      } else if (change.active === true && !before.active) {
        await notifyUserKeysChanged(tx, id);
        await appendAuditEvent(tx, {
          ...audit,
          action: 'user.reactivated',
          target,
          requestId: meta.requestId,
        });
      }
      const fields = Object.keys(change).filter((k) => k !== 'active' && k !== 'userName');
      if (fields.length > 0)
        await appendAuditEvent(tx, {
          ...audit,
          action: 'user.updated',
          target,
          requestId: meta.requestId,
          details: { via: 'scim', fields },
        });
      return this.#row(tx, id);
    });
    this.onUserChanged(id, keys);
    return row;
  }

  /** Ends everything the member is signed in with, at once; every instance is told at commit. */
  async #cutOff(
    tx: TenantTx,
    userId: string,
    reason: string,
  ): Promise<{ keys: string[]; counts: Record<string, number> }> {
    const sessions = await revokeUserSessions(tx, userId);
    const tokenFamilies = await revokeUserTokenFamilies(tx, userId, reason);
    const revokedKeys = await revokeUserKeys(tx, userId);
    const keys = await notifyUserKeysChanged(tx, userId);
    return { keys, counts: { sessions, tokenFamilies, keys: revokedKeys.length } };
  }

  async #row(tx: TenantTx, id: string): Promise<ScimUserRow> {
    if (!isUuid(id)) throw new NotFound('User');
    const row = await getScimUser(tx, id);
    if (!row) throw new NotFound('User');
    return row;
  }
}
