import { randomUUID } from 'node:crypto';
import { appendAuditEvent, type AuditAction } from '../../audit/service.js';
import type { Database, TenantTx } from '../../platform/db/database.js';
import { UNIQUE_VIOLATION, pgErrorCode } from '../../platform/db/sql.js';
import { Conflict, NotFound } from '../../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../../platform/http/principal.js';
import type { Keyring } from '../../platform/secrets/envelope.js';
import type { McpConnections } from './connection.js';
import { authMeta, sealAuth, targetOf, targetWithToken } from './credentials.js';
import { PER_USER, type UserConnections } from './user-connections.js';
import { cacheTools, cachedTools, policyOf, toolPolicies } from './policy.js';
import type { CreateMcpServerBody, McpServerView, PatchMcpServerBody } from './schemas.js';
import {
  deleteServer,
  getServer,
  insertServer,
  listServers,
  saveTools,
  updateServer,
  type McpServerSecretRow,
} from './servers-store.js';

const AUTH_TYPES = [
  'none',
  'bearer',
  'headers',
  'oauth-client-credentials',
  'oauth-authorization-code',
] as const;

function view(row: McpServerSecretRow): McpServerView {
  const meta = authMeta(row);
  const tools = cachedTools(row);
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    auth: {
      type: AUTH_TYPES.find((t) => t === row.auth_type) ?? 'none',
      ...(meta.headerNames ? { headerNames: meta.headerNames } : {}),
      ...(meta.clientId ? { clientId: meta.clientId } : {}),
      ...(meta.scope ? { scope: meta.scope } : {}),
      hasCredential: row.credential_key_id !== null,
    },
    perUser: row.auth_type === PER_USER,
    defaultPolicy:
      row.default_policy === 'always' ||
      row.default_policy === 'ask' ||
      row.default_policy === 'deny'
        ? row.default_policy
        : null,
    toolPolicies: toolPolicies(row),
    tools: tools?.map((t) => ({ ...t, policy: policyOf(row, t) })) ?? null,
    toolsRefreshedAt: row.tools_at?.toISOString() ?? null,
    toolsExpireAt: row.tools_expires_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The tenant's external MCP servers: settings written by admins, audited, credentials sealed. */
export class McpServerService {
  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring | undefined,
    private readonly connections: McpConnections,
    private readonly users: UserConnections,
    private readonly opts: { toolsTtlSeconds: number },
  ) {}

  async create(p: Principal, body: CreateMcpServerBody, meta: RequestMeta): Promise<McpServerView> {
    const id = randomUUID();
    return this.db.withTenant(p, async (tx) => {
      const auth = sealAuth(this.keyring, tx.tenantId, id, body.auth);
      const row = await insertServer(
        tx,
        {
          id,
          name: body.name,
          url: body.url,
          authType: auth.type,
          authMeta: auth.meta,
          defaultPolicy: body.defaultPolicy ?? null,
          toolPolicies: body.toolPolicies ?? {},
        },
        auth.env,
      ).catch((err: unknown) => {
        if (pgErrorCode(err) === UNIQUE_VIOLATION)
          throw new Conflict(`An MCP server named '${body.name}' exists.`, 'mcp_server_exists');
        throw err;
      });
      await audit(tx, p, meta, 'mcp_server.created', id, {
        name: body.name,
        url: body.url,
        auth: auth.type,
      });
      return view(row);
    });
  }

  async list(p: Principal): Promise<{ data: McpServerView[] }> {
    return { data: (await this.db.withTenant(p, listServers)).map(view) };
  }

  async get(p: Principal, id: string): Promise<McpServerView> {
    const row = await this.db.withTenant(p, (tx) => getServer(tx, id));
    if (!row) throw new NotFound('MCP server');
    return view(row);
  }

  async update(
    p: Principal,
    id: string,
    patch: PatchMcpServerBody,
    meta: RequestMeta,
  ): Promise<McpServerView> {
    return this.db.withTenant(p, async (tx) => {
      if (!(await getServer(tx, id, { lock: true }))) throw new NotFound('MCP server');
      const row = await updateServer(tx, id, {
        url: patch.url,
        auth: patch.auth ? sealAuth(this.keyring, tx.tenantId, id, patch.auth) : undefined,
        defaultPolicy: patch.defaultPolicy,
        toolPolicies: patch.toolPolicies,
      });
      await audit(tx, p, meta, 'mcp_server.updated', id, {
        fields: Object.keys(patch).sort(),
        ...(patch.auth ? { auth: patch.auth.type } : {}),
      });
      return view(row);
    });
  }

  async remove(p: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(p, async (tx) => {
      const row = await getServer(tx, id, { lock: true });
      if (!row) throw new NotFound('MCP server');
      await deleteServer(tx, id);
      await audit(tx, p, meta, 'mcp_server.deleted', id, { name: row.name });
    });
  }

  /** Lists the server's tools now and caches them (its ttlMs when it sends one, else ours). */
  async refresh(p: Principal, id: string, meta: RequestMeta): Promise<McpServerView> {
    const row = await this.db.withTenant(p, (tx) => getServer(tx, id));
    if (!row) throw new NotFound('MCP server');
    // Outside any transaction: a slow server must not hold a connection of the pool.
    // A per-user server lists its tools with the refreshing admin's own connection.
    const listed = await this.connections.listTools(
      row.auth_type === PER_USER
        ? targetWithToken(row, await this.users.accessToken(p, row))
        : targetOf(this.keyring, row),
    );
    const tools = cacheTools(row.name, listed.tools);
    const ttl =
      listed.ttlMs !== undefined ? Math.ceil(listed.ttlMs / 1000) : this.opts.toolsTtlSeconds;
    return this.db.withTenant(p, async (tx) => {
      if (!(await getServer(tx, id, { lock: true }))) throw new NotFound('MCP server');
      const saved = await saveTools(tx, id, tools, ttl);
      await audit(tx, p, meta, 'mcp_server.refreshed', id, { tools: tools.length });
      return view(saved);
    });
  }
}

async function audit(
  tx: TenantTx,
  principal: Principal,
  meta: RequestMeta,
  action: AuditAction,
  id: string,
  details: Record<string, unknown>,
): Promise<void> {
  await appendAuditEvent(tx, {
    actor: actorOf(principal),
    action,
    target: { type: 'mcp_server', id },
    outcome: 'success',
    ip: meta.ip,
    requestId: meta.requestId,
    details,
  });
}
