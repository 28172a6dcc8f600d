import { appendAuditEvent } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { Forbidden, InvalidInput, NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { generateApiKey, hashApiKey } from './key-secret.js';
import {
  getApiKey,
  insertApiKey,
  listApiKeys,
  notifyKeyChanged,
  revokeApiKey,
  updateApiKey,
  type ApiKeyRow,
  type KeysPosition,
} from './keys-store.js';
import { isRole, mayGrant, type Role } from './permissions.js';

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
}

function assertMayGrant(principal: Principal, role: Role): void {
  if (!isRole(principal.role) || !mayGrant(principal.role, role)) {
    throw new Forbidden(`A ${principal.role} cannot grant the ${role} role.`, 'role_escalation');
  }
}

/** API keys of one tenant: issue (secret shown once), list, change, revoke. */
export class ApiKeyService {
  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
  ) {}

  /** Creates a key inside an open tenant transaction (used by tenant bootstrap too). */
  async issueInTx(
    tx: TenantTx,
    input: CreateKeyInput & { userId: string | null; createdBy: string },
  ): Promise<{ key: ApiKeyView; secret: string }> {
    const { secret, prefix } = generateApiKey();
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
  ): Promise<{ key: ApiKeyView; secret: string }> {
    assertMayGrant(principal, input.role);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw new InvalidInput('body.expiresAt: must be in the future', {
        errors: [{ field: 'body.expiresAt', message: 'must be in the future' }],
      });
    }
    const actor = actorOf(principal);
    return this.db.withTenant(principal, async (tx) => {
      const created = await this.issueInTx(tx, {
        ...input,
        userId: principal.userId,
        createdBy: `${actor.type}:${actor.id ?? ''}`,
      });
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
        },
      });
      return created;
    });
  }

  async list(
    principal: Principal,
    opts: { includeRevoked: boolean; cursor?: string | undefined; limit: number },
  ): Promise<{ data: ApiKeyView[]; nextCursor: string | null }> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    const rows = await this.db.withTenant(principal, (tx) =>
      listApiKeys(tx, { includeRevoked: opts.includeRevoked, after, limit: opts.limit + 1 }),
    );
    const page = rows.slice(0, opts.limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toApiKeyView),
      nextCursor:
        rows.length > opts.limit && last
          ? encodeCursor({ createdAt: last.position, id: last.id })
          : null,
    };
  }

  async get(principal: Principal, id: string): Promise<ApiKeyView> {
    const row = await this.db.withTenant(principal, (tx) => getApiKey(tx, id));
    if (!row) throw new NotFound('API key');
    return toApiKeyView(row);
  }

  async update(
    principal: Principal,
    id: string,
    patch: { name?: string | undefined; role?: Role | undefined; groups?: string[] | undefined },
    meta: RequestMeta,
  ): Promise<ApiKeyView> {
    if (patch.role) assertMayGrant(principal, patch.role);
    return this.db.withTenant(principal, async (tx) => {
      const before = await getApiKey(tx, id);
      if (!before || before.revoked_at) throw new NotFound('API key');
      // Nobody changes a key that holds more than they do.
      if (isRole(before.role)) assertMayGrant(principal, before.role);
      const after = (await updateApiKey(tx, id, patch)) as ApiKeyRow;
      await notifyKeyChanged(tx, id);
      const changes: Record<string, unknown> = {};
      if (patch.name !== undefined && patch.name !== before.name)
        changes.name = { from: before.name, to: patch.name };
      if (patch.role !== undefined && patch.role !== before.role)
        changes.role = { from: before.role, to: patch.role };
      if (patch.groups !== undefined) changes.groups = { from: before.groups, to: patch.groups };
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action: changes.role ? 'api_key.role_changed' : 'api_key.updated',
        target: { type: 'api_key', id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: changes,
      });
      return toApiKeyView(after);
    });
  }

  async revoke(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(principal, async (tx) => {
      const before = await getApiKey(tx, id);
      if (!before) throw new NotFound('API key');
      if (isRole(before.role)) assertMayGrant(principal, before.role);
      await revokeApiKey(tx, id);
      await notifyKeyChanged(tx, id);
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action: 'api_key.revoked',
        target: { type: 'api_key', id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { prefix: before.prefix, alreadyRevoked: before.revoked_at !== null },
      });
    });
  }
}

function encodeCursor(p: KeysPosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.id])).toString('base64url');
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function decodeCursor(cursor: string): KeysPosition {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown;
    if (
      Array.isArray(v) &&
      typeof v[0] === 'string' &&
      !Number.isNaN(Date.parse(v[0])) &&
      typeof v[1] === 'string' &&
      UUID_RE.test(v[1])
    ) {
      return { createdAt: v[0], id: v[1] };
    }
  } catch {
    // fall through to the typed error
  }
  throw new InvalidInput('query.cursor: not a cursor returned by this API', {
    errors: [{ field: 'query.cursor', message: 'invalid cursor' }],
  });
}
