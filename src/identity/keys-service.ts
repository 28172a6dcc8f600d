import type { Limits } from '../platform/http/limits-schema.js';
import { appendAuditEvent, auditSuccess } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { InvalidInput, NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { decodeCursor, paginate } from '../platform/http/cursor.js';
import { generateApiKey, hashApiKey } from './key-secret.js';
import {
  getApiKey,
  getKeyLimits,
  insertApiKey,
  listApiKeys,
  notifyKeyChanged,
  setKeyLimits,
  revokeApiKey,
  updateApiKey,
  type ApiKeyRow,
} from './keys-store.js';
import { assertKnownGroups } from './groups-service.js';
import type { Role } from './permissions.js';
import { assertKeyWithinUser, assertMayGrant, auditingRefusals } from './role-guard.js';
import { getMember } from './users-store.js';

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  role: string;
  groups: string[];
  userId: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** One key as GET/PATCH /v1/api-keys/:id and POST /v1/api-keys show it: with its gateway policy. */
export interface ApiKeyDetail extends ApiKeyView {
  /** The model aliases the key may call; null: every model. */
  models: string[] | null;
  /** The key's own limits; an absent field is unlimited (tenant limits still apply). */
  limits: Limits;
}

export function toApiKeyView(r: ApiKeyRow): ApiKeyView {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    role: r.role,
    groups: r.groups,
    userId: r.user_id,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
    revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  };
}

export interface CreateKeyInput {
  name: string;
  role: Role;
  groups?: string[] | undefined;
  expiresAt?: Date | undefined;
  /** A member of the same tenant the key acts for (its groups, capped by its role). */
  userId?: string | undefined;
  models?: string[] | undefined;
  limits?: Limits | undefined;
}

/**
 * The authenticator's side of issuing a key: `issued` before the insert, so this instance knows
 * the prefix at once; `announced` after the commit, which waits (briefly, bounded) until the
 * commit's notification has come back, by which time PostgreSQL has signalled every other
 * instance too. A key handed to a client is then usable at once on any instance.
 */
export interface KeyAnnouncer {
  issued(prefix: string): void;
  announced(prefix: string): Promise<void>;
}

/** API keys of one tenant: issue (secret shown once), list, change, revoke. */
export class ApiKeyService {
  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    /** Called after a key's gateway models/limits change, so this instance's gateway config cache drops the tenant at once. */
    private readonly onGatewayLimitsChanged: (tenantId: string) => void = () => undefined,
    /** Tells the authenticator's prefix set about new keys (see KeyAnnouncer). */
    private readonly announcer: KeyAnnouncer = {
      issued: () => undefined,
      announced: async () => {},
    },
  ) {}

  /** Resolves once the key's `issued` notification is seen (call after the commit). */
  announced(prefix: string): Promise<void> {
    return this.announcer.announced(prefix);
  }

  /** Creates a key inside an open tenant transaction (used by tenant bootstrap too). */
  async issueInTx(
    tx: TenantTx,
    input: Omit<CreateKeyInput, 'userId'> & { userId: string | null; createdBy: string },
  ): Promise<{ key: ApiKeyView; secret: string }> {
    const { secret, prefix } = generateApiKey();
    // Before the insert: a key whose transaction rolls back leaves only a harmless extra prefix.
    this.announcer.issued(prefix);
    const row = await insertApiKey(tx, {
      userId: input.userId,
      name: input.name,
      prefix,
      secretHash: hashApiKey(this.serverSecret, secret),
      role: input.role,
      groups: input.groups ?? [],
      createdBy: input.createdBy,
      expiresAt: input.expiresAt ?? null,
    });
    return { key: toApiKeyView(row), secret };
  }

  async create(
    principal: Principal,
    input: CreateKeyInput,
    meta: RequestMeta,
  ): Promise<{ key: ApiKeyDetail; secret: string }> {
    return auditingRefusals(this.db, principal, meta, { type: 'api_key', id: null }, async () => {
      assertMayGrant(principal, input.role);
      if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
        throw new InvalidInput('body.expiresAt: must be in the future', {
          errors: [{ field: 'body.expiresAt', message: 'must be in the future' }],
        });
      }
      const actor = actorOf(principal);
      return this.db.withTenant(principal, async (tx) => {
        let userId = principal.userId;
        if (input.userId !== undefined) {
          // Only a member of this tenant, and nobody above the caller, can be acted for.
          const member = await getMember(tx, input.userId);
          if (!member) throw new NotFound('User');
          assertMayGrant(principal, member.role, 'issue keys for a user with');
          assertKeyWithinUser(input.role, member.role);
          userId = member.id;
        }
        await assertKnownGroups(tx, input.groups ?? []);
        const created = await this.issueInTx(tx, {
          ...input,
          userId,
          createdBy: `${actor.type}:${actor.id ?? ''}`,
        });
        if (input.models !== undefined || input.limits !== undefined)
          await setKeyLimits(tx, created.key.id, input);
        await appendAuditEvent(tx, {
          actor,
          action: 'api_key.created',
          target: { type: 'api_key', id: created.key.id },
          outcome: 'success',
          ip: meta.ip,
          requestId: meta.requestId,
          details: {
            name: input.name,
            role: input.role,
            groups: input.groups ?? [],
            prefix: created.key.prefix,
            userId,
          },
        });
        const key = { ...created.key, models: input.models ?? null, limits: input.limits ?? {} };
        return { key, secret: created.secret };
      });
    }).then(async (created) => {
      await this.announced(created.key.prefix);
      return created;
    });
  }

  async list(
    principal: Principal,
    opts: { includeRevoked: boolean; cursor?: string | undefined; limit: number },
  ): Promise<{ data: ApiKeyDetail[]; nextCursor: string | null }> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    const rows = await this.db.withTenant(principal, (tx) =>
      listApiKeys(tx, { includeRevoked: opts.includeRevoked, after, limit: opts.limit + 1 }),
    );
    return paginate(rows, opts.limit, (r) => ({
      ...toApiKeyView(r),
      models: r.models,
      limits: r.limits,
    }));
  }

  async get(principal: Principal, id: string): Promise<ApiKeyDetail> {
    return this.db.withTenant(principal, async (tx) => {
      const row = await getApiKey(tx, id);
      if (!row) throw new NotFound('API key');
      return { ...toApiKeyView(row), ...(await getKeyLimits(tx, id)) };
    });
  }

  async update(
    principal: Principal,
    id: string,
    patch: {
      name?: string | undefined;
      role?: Role | undefined;
      groups?: string[] | undefined;
      models?: string[] | null | undefined;
      limits?: Limits | undefined;
    },
    meta: RequestMeta,
  ): Promise<ApiKeyDetail> {
    return auditingRefusals(this.db, principal, meta, { type: 'api_key', id }, async () => {
      if (patch.role) assertMayGrant(principal, patch.role);
      const view = await this.db.withTenant(principal, async (tx) => {
        const before = await getApiKey(tx, id);
        if (!before || before.revoked_at) throw new NotFound('API key');
        // Nobody changes a key that holds more than they do.
        assertMayGrant(principal, before.role, 'change a key with');
        if (patch.role && before.user_id) {
          const member = await getMember(tx, before.user_id);
          if (member) assertKeyWithinUser(patch.role, member.role);
        }
        if (patch.groups) await assertKnownGroups(tx, patch.groups);
        const after = await updateApiKey(tx, id, patch);
        if (!after) throw new NotFound('API key');
        if (patch.models !== undefined || patch.limits !== undefined)
          await setKeyLimits(tx, id, patch);
        await notifyKeyChanged(tx, id);
        const changes: Record<string, unknown> = {};
        if (patch.name !== undefined && patch.name !== before.name)
          changes.name = { from: before.name, to: patch.name };
        if (patch.role !== undefined && patch.role !== before.role)
          changes.role = { from: before.role, to: patch.role };
        if (patch.groups !== undefined) changes.groups = { from: before.groups, to: patch.groups };
        if (patch.models !== undefined) changes.models = { to: patch.models };
        if (patch.limits !== undefined) changes.limits = { to: patch.limits };
        await auditSuccess(
          tx,
          principal,
          meta,
          changes.role ? 'api_key.role_changed' : 'api_key.updated',
          { type: 'api_key', id },
          changes,
        );
        return { ...toApiKeyView(after), ...(await getKeyLimits(tx, id)) };
      });
      if (patch.models !== undefined || patch.limits !== undefined)
        this.onGatewayLimitsChanged(principal.tenantId);
      return view;
    });
  }

  async revoke(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    return auditingRefusals(this.db, principal, meta, { type: 'api_key', id }, async () => {
      await this.db.withTenant(principal, async (tx) => {
        const before = await getApiKey(tx, id);
        if (!before) throw new NotFound('API key');
        assertMayGrant(principal, before.role, 'revoke a key with');
        await revokeApiKey(tx, id);
        await notifyKeyChanged(tx, id);
        await auditSuccess(
          tx,
          principal,
          meta,
          'api_key.revoked',
          { type: 'api_key', id },
          { prefix: before.prefix, alreadyRevoked: before.revoked_at !== null },
        );
      });
    });
  }
}
