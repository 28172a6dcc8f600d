import type { KnowledgeTools } from '../../knowledge/index.js';
import type { TenantTx } from '../../platform/db/database.js';
import type { Principal } from '../../platform/http/principal.js';
import type { Keyring } from '../../platform/secrets/envelope.js';
import { isPermission, type Permission } from '../../platform/http/permissions-catalogue.js';
import { CompensateRequest, ToolRequest, type ToolPolicy } from '../schemas.js';
import { toolsByName, type ToolSecretRow } from '../store.js';
import { decryptCredential } from '../credentials.js';
import type { HttpActions } from './http-action.js';

export interface CallContext {
  principal: Principal;
  args: Record<string, unknown>;
  idempotencyKey: string;
  requestId: string;
}

/** A tool as the run loop sees it: its declaration for the model and how to call it. */
export interface ResolvedTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  sideEffect: boolean;
  /** The caller must hold it, whatever the agent's policy says. */
  permission: Permission | null;
  call(ctx: CallContext): Promise<unknown>;
  /** Undoes a successful call (saga); absent when the tool declares no compensation. */
  compensate?: (ctx: CallContext & { result: unknown }) => Promise<unknown>;
  /**
   * The least strict policy its source allows (an external MCP server's tool: the tenant's policy
   * for it, else its annotations'); the run applies the stricter of this and the agent's entry.
   */
  policy?: ToolPolicy;
}

/**
 * Tools another feature provides under a name prefix (src/mcp: `mcp.<server>.<tool>`), resolved
 * in the run's tenant transaction like the tenant's own HTTP actions.
 */
export interface ToolSource {
  readonly prefix: string;
  resolve(tx: TenantTx, names: readonly string[]): Promise<Map<string, ResolvedTool>>;
}

const BUILTIN: Record<string, Omit<ResolvedTool, 'call'> & { kind: 'search' | 'ask' }> = {
  'knowledge.search': {
    kind: 'search',
    name: 'knowledge.search',
    description:
      "Searches the knowledge base (only documents the user may read). Returns the best matching passages with their document's title.",
    parameters: {
      type: 'object',
      properties: {
        query: { type: 'string', minLength: 1, maxLength: 2000 },
        k: { type: 'integer', minimum: 1, maximum: 20 },
      },
      required: ['query'],
      additionalProperties: false,
    },
    sideEffect: false,
    permission: 'documents:read',
  },
  'knowledge.ask': {
    kind: 'ask',
    name: 'knowledge.ask',
    description:
      'Answers a question from the knowledge base (only documents the user may read), with citations.',
    parameters: {
      type: 'object',
      properties: {
        question: { type: 'string', minLength: 1, maxLength: 2000 },
        k: { type: 'integer', minimum: 1, maximum: 20 },
      },
      required: ['question'],
      additionalProperties: false,
    },
    sideEffect: false,
    permission: 'documents:read',
  },
};

export const BUILTIN_TOOLS = Object.values(BUILTIN).map(({ kind: _kind, ...t }) => t);

export function isBuiltin(name: string): boolean {
  return Object.hasOwn(BUILTIN, name);
}

/** Resolves tool names to callable tools: the built-ins and the tenant's HTTP actions. */
export class ToolRegistry {
  constructor(
    private readonly deps: {
      knowledge: KnowledgeTools;
      actions: HttpActions;
      keyring: Keyring | undefined;
      sources?: readonly ToolSource[];
    },
  ) {}

  /** The tools of `names` that exist (unknown names are simply absent). */
  async resolve(tx: TenantTx, names: readonly string[]): Promise<Map<string, ResolvedTool>> {
    const out = new Map<string, ResolvedTool>();
    for (const name of names) {
      const b = BUILTIN[name];
      if (!b) continue;
      const { kind: _kind, ...decl } = b;
      const knowledge = this.deps.knowledge;
      out.set(name, {
        ...decl,
        call: async ({ principal, args, requestId }) => {
          const k = typeof args.k === 'number' ? args.k : undefined;
          if (b.kind === 'search') {
            const r = await knowledge.search(
              principal,
              { query: String(args.query), k },
              requestId,
            );
            return r.data.map((h) => ({
              documentId: h.documentId,
              title: h.title,
              text: h.text,
              score: h.score,
            }));
          }
          const r = await knowledge.ask(
            principal,
            { question: String(args.question), k },
            requestId,
          );
          return {
            answer: r.answer,
            citations: r.citations.map((c) => ({ documentId: c.documentId, title: c.title })),
          };
        },
      });
    }
    const sources = this.deps.sources ?? [];
    const sourceOf = (n: string) => sources.find((s) => n.startsWith(s.prefix));
    for (const source of sources) {
      const own = names.filter((n) => sourceOf(n) === source);
      if (own.length > 0) for (const [n, t] of await source.resolve(tx, own)) out.set(n, t);
    }
    const rows = await toolsByName(
      tx,
      names.filter((n) => !isBuiltin(n) && !sourceOf(n)),
    );
    for (const row of rows) out.set(row.name, this.#action(tx.tenantId, row));
    return out;
  }

  #action(tenantId: string, row: ToolSecretRow): ResolvedTool {
    const request = ToolRequest.parse(row.request);
    const compensate = row.compensate === null ? null : CompensateRequest.parse(row.compensate);
    const credential = (): string | undefined =>
      row.credential_key_id === null
        ? undefined
        : decryptCredential(this.deps.keyring, tenantId, row);
    const common = {
      breakerKey: `${tenantId}:${row.name}`,
      timeoutMs: row.timeout_ms,
      retries: row.retries,
    };
    const parameters =
      row.parameters !== null && typeof row.parameters === 'object'
        ? (row.parameters as Record<string, unknown>)
        : {};
    const tool: ResolvedTool = {
      name: row.name,
      description: row.description,
      parameters,
      sideEffect: row.side_effect,
      permission: row.permission !== null && isPermission(row.permission) ? row.permission : null,
      call: ({ args, idempotencyKey }) =>
        this.deps.actions.call({
          ...common,
          request,
          vars: args,
          idempotencyKey,
          credential: credential(),
          defaultBody: args,
        }),
    };
    if (compensate)
      tool.compensate = ({ args, result, idempotencyKey }) =>
        this.deps.actions.call({
          ...common,
          // A compensation is retried at least twice: leaving a side effect in place is worse.
          retries: Math.max(2, row.retries),
          request: compensate,
          vars: { ...args, result },
          idempotencyKey,
          credential: credential(),
          defaultBody: undefined,
        });
    return tool;
  }
}
