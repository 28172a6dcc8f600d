import { randomUUID } from 'node:crypto';
import { auditSuccess, type AuditAction } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { Conflict, InvalidInput, NotFound } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { nonPublicAddressOf } from '../platform/net/outbound-guard.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { encryptCredential } from './credentials.js';
import { assertJsonSchema } from './json-schema.js';
import {
  AgentToolEntry,
  CompensateRequest,
  ToolRequest,
  type AgentView,
  type CreateAgentBody,
  type CreateToolBody,
  type PatchAgentBody,
  type PatchToolBody,
  type ToolView,
} from './schemas.js';
import {
  deleteAgent,
  deleteTool,
  getAgent,
  getTool,
  insertAgent,
  insertTool,
  listAgents,
  listTools,
  toolsByName,
  updateAgent,
  updateTool,
  type AgentFields,
  type AgentRow,
  type ToolFields,
  type ToolRow,
} from './store.js';
import type { ToolRegistry } from './tools/registry.js';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export function agentView(r: AgentRow): AgentView {
  const tools = AgentToolEntry.array().safeParse(r.tools);
  return {
    id: r.id,
    name: r.name,
    instructions: r.instructions,
    model: r.model,
    tools: tools.success ? tools.data : [],
    maxSteps: r.max_steps,
    budgetUsd: r.budget_usd === null ? null : Number(r.budget_usd),
    outputSchema: isRecord(r.output_schema) ? r.output_schema : null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

function toolView(r: ToolRow): ToolView {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    parameters: isRecord(r.parameters) ? r.parameters : {},
    request: ToolRequest.parse(r.request),
    hasCredential: r.credential_key_id !== null,
    sideEffect: r.side_effect,
    compensate: r.compensate === null ? null : CompensateRequest.parse(r.compensate),
    timeoutMs: r.timeout_ms,
    retries: r.retries,
    permission: r.permission,
    builtIn: false,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

const builtinView = (t: ReturnType<ToolRegistry['builtins']>[number]): ToolView => ({
  id: t.name,
  name: t.name,
  description: t.description,
  parameters: t.parameters,
  request: { method: 'POST', url: 'https://rampart.internal/builtin' },
  hasCredential: false,
  sideEffect: false,
  compensate: null,
  timeoutMs: 0,
  retries: 0,
  permission: t.permission,
  builtIn: true,
  createdAt: null,
  updatedAt: null,
});

/** Agents and the tenant's HTTP actions: definitions written by admins, audited. */
export class DefinitionService {
  readonly #builtins: ToolView[];

  constructor(
    private readonly db: Database,
    /** The built-in tools (knowledge, SQL, …) every agent may name. */
    private readonly tools: ToolRegistry,
    private readonly keyring: Keyring | undefined,
    /** OUTBOUND_ALLOW_PRIVATE_ADDRESSES: whether action URLs may point at non-public addresses. */
    private readonly allowPrivate: boolean,
  ) {
    this.#builtins = tools.builtins().map(builtinView);
  }

  async #audit(
    tx: TenantTx,
    principal: Principal,
    meta: RequestMeta,
    action: AuditAction,
    target: { type: string; id: string },
    details: Record<string, unknown>,
  ): Promise<void> {
    await auditSuccess(tx, principal, meta, action, target, details);
  }

  async #checkAgent(tx: TenantTx, a: AgentFields): Promise<void> {
    if (a.outputSchema) assertJsonSchema(a.outputSchema, 'body.outputSchema');
    const names = a.tools.map((t) => AgentToolEntry.parse(t).name);
    if (new Set(names).size !== names.length)
      throw new InvalidInput('A tool is listed twice.', {
        errors: [{ field: 'body.tools', message: 'duplicate tool' }],
      });
    const known = new Set((await toolsByName(tx, names)).map((t) => t.name));
    // Tools of other sources (`mcp.<server>.<tool>`) exist when the registry resolves them.
    const rest = names.filter((n) => !this.tools.isBuiltin(n) && !known.has(n));
    if (rest.length > 0) for (const n of (await this.tools.resolve(tx, rest)).keys()) known.add(n);
    const unknown = names.filter((n) => !this.tools.isBuiltin(n) && !known.has(n));
    if (unknown.length)
      throw new InvalidInput(
        `Unknown tool(s): ${unknown.join(', ')}. Define them with POST /v1/tools.`,
        {
          errors: [{ field: 'body.tools', message: 'unknown tool' }],
        },
      );
  }

  async createAgent(p: Principal, body: CreateAgentBody, meta: RequestMeta): Promise<AgentView> {
    const fields: AgentFields = {
      name: body.name,
      instructions: body.instructions,
      model: body.model,
      tools: body.tools,
      maxSteps: body.maxSteps,
      budgetUsd: body.budgetUsd ?? null,
      outputSchema: body.outputSchema ?? null,
    };
    return this.db.withTenant(p, async (tx) => {
      await this.#checkAgent(tx, fields);
      const row = await insertAgent(tx, fields);
      if (!row) throw new Conflict(`An agent named '${body.name}' exists.`, 'agent_exists');
      await this.#audit(
        tx,
        p,
        meta,
        'agent.created',
        { type: 'agent', id: row.id },
        {
          name: row.name,
          model: row.model,
          tools: fields.tools,
        },
      );
      return agentView(row);
    });
  }

  async updateAgent(
    p: Principal,
    id: string,
    patch: PatchAgentBody,
    meta: RequestMeta,
  ): Promise<AgentView> {
    return this.db.withTenant(p, async (tx) => {
      const row = await getAgent(tx, id);
      if (!row) throw new NotFound('Agent');
      const cur = agentView(row);
      const fields: AgentFields = {
        name: patch.name ?? cur.name,
        instructions: patch.instructions ?? cur.instructions,
        model: patch.model ?? cur.model,
        tools: patch.tools ?? cur.tools,
        maxSteps: patch.maxSteps ?? cur.maxSteps,
        budgetUsd: patch.budgetUsd === undefined ? cur.budgetUsd : patch.budgetUsd,
        outputSchema: patch.outputSchema === undefined ? cur.outputSchema : patch.outputSchema,
      };
      await this.#checkAgent(tx, fields);
      const updated = await updateAgent(tx, id, fields).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === '23505')
          throw new Conflict(`An agent named '${fields.name}' exists.`, 'agent_exists');
        throw err;
      });
      await this.#audit(
        tx,
        p,
        meta,
        'agent.updated',
        { type: 'agent', id },
        {
          changed: Object.keys(patch),
        },
      );
      return agentView(updated);
    });
  }

  getAgent(p: Principal, id: string): Promise<AgentView> {
    return this.db.withTenant(p, async (tx) => {
      const row = await getAgent(tx, id);
      if (!row) throw new NotFound('Agent');
      return agentView(row);
    });
  }

  async listAgents(p: Principal): Promise<{ data: AgentView[] }> {
    return { data: (await this.db.withTenant(p, (tx) => listAgents(tx))).map(agentView) };
  }

  deleteAgent(p: Principal, id: string, meta: RequestMeta): Promise<void> {
    return this.db.withTenant(p, async (tx) => {
      if (!(await deleteAgent(tx, id))) throw new NotFound('Agent');
      await this.#audit(tx, p, meta, 'agent.deleted', { type: 'agent', id }, {});
    });
  }

  /** Refuses a schema that is not one, and an address the guard would refuse anyway. */
  async #checkTool(f: ToolFields): Promise<void> {
    assertJsonSchema(f.parameters, 'body.parameters', { objectType: true });
    if (this.allowPrivate) return;
    const urls: [string, string][] = [['body.request.url', ToolRequest.parse(f.request).url]];
    if (f.compensate !== null)
      urls.push(['body.compensate.url', CompensateRequest.parse(f.compensate).url]);
    for (const [field, template] of urls) {
      // The host of a template with a placeholder in it is known only per call: the connection
      // guard (every connection and redirect) still applies then.
      const origin = /^https?:\/\/[^/{}]+(?=\/|$)/.exec(template)?.[0];
      const address = origin ? await nonPublicAddressOf(origin) : undefined;
      if (address)
        throw new InvalidInput(
          `${field}: ${new URL(template.replace(/[{}]/g, '')).host} is not a public address (${address}); the operator can allow this with OUTBOUND_ALLOW_PRIVATE_ADDRESSES.`,
          { errors: [{ field, message: 'not a public address' }] },
        );
    }
  }

  async createTool(p: Principal, body: CreateToolBody, meta: RequestMeta): Promise<ToolView> {
    const fields: ToolFields = {
      description: body.description,
      parameters: body.parameters,
      request: body.request,
      sideEffect: body.sideEffect,
      compensate: body.compensate ?? null,
      timeoutMs: body.timeoutMs,
      retries: body.retries,
      permission: body.permission ?? null,
    };
    await this.#checkTool(fields);
    const id = randomUUID();
    const envelope =
      body.credential == null
        ? null
        : encryptCredential(this.keyring, p.tenantId, id, body.credential);
    return this.db.withTenant(p, async (tx) => {
      const row = await insertTool(tx, id, body.name, fields, envelope);
      if (!row) throw new Conflict(`A tool named '${body.name}' exists.`, 'tool_exists');
      await this.#audit(
        tx,
        p,
        meta,
        'tool.created',
        { type: 'tool', id },
        {
          name: row.name,
          method: body.request.method,
          url: body.request.url,
          sideEffect: row.side_effect,
          credential: envelope !== null,
        },
      );
      return toolView(row);
    });
  }

  async updateTool(
    p: Principal,
    id: string,
    patch: PatchToolBody,
    meta: RequestMeta,
  ): Promise<ToolView> {
    const envelope =
      patch.credential === undefined
        ? undefined
        : patch.credential === null
          ? null
          : encryptCredential(this.keyring, p.tenantId, id, patch.credential);
    return this.db.withTenant(p, async (tx) => {
      const row = await getTool(tx, id);
      if (!row) throw new NotFound('Tool');
      const cur = toolView(row);
      const fields: ToolFields = {
        description: patch.description ?? cur.description,
        parameters: patch.parameters ?? cur.parameters,
        request: patch.request ?? cur.request,
        sideEffect: patch.sideEffect ?? cur.sideEffect,
        compensate: patch.compensate === undefined ? cur.compensate : patch.compensate,
        timeoutMs: patch.timeoutMs ?? cur.timeoutMs,
        retries: patch.retries ?? cur.retries,
        permission: patch.permission === undefined ? cur.permission : patch.permission,
      };
      await this.#checkTool(fields);
      const updated = await updateTool(tx, id, fields, envelope);
      await this.#audit(
        tx,
        p,
        meta,
        'tool.updated',
        { type: 'tool', id },
        {
          name: row.name,
          changed: Object.keys(patch),
        },
      );
      return toolView(updated);
    });
  }

  getTool(p: Principal, id: string): Promise<ToolView> {
    const builtin = this.#builtins.find((t) => t.id === id);
    if (builtin) return Promise.resolve(builtin);
    if (!/^[0-9a-f-]{36}$/i.test(id)) return Promise.reject(new NotFound('Tool'));
    return this.db.withTenant(p, async (tx) => {
      const row = await getTool(tx, id);
      if (!row) throw new NotFound('Tool');
      return toolView(row);
    });
  }

  async listTools(p: Principal): Promise<{ data: ToolView[] }> {
    const rows = await this.db.withTenant(p, (tx) => listTools(tx));
    return { data: [...this.#builtins, ...rows.map(toolView)] };
  }

  deleteTool(p: Principal, id: string, meta: RequestMeta): Promise<void> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return Promise.reject(new NotFound('Tool'));
    return this.db.withTenant(p, async (tx) => {
      const name = await deleteTool(tx, id);
      if (name === undefined) throw new NotFound('Tool');
      await this.#audit(tx, p, meta, 'tool.deleted', { type: 'tool', id }, { name });
    });
  }
}
