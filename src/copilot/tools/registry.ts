import type { TenantTx } from '../../platform/db/database.js';
import type { Principal } from '../../platform/http/principal.js';
import type { Permission } from '../../platform/http/permissions-catalogue.js';
import type { ToolPolicy } from '../schemas.js';

export interface CallContext {
  principal: Principal;
  args: Record<string, unknown>;
  idempotencyKey: string;
  requestId: string;
  /**
   * The document data classes the run's model may receive (decision 020): a tool that returns
   * document content leaves other classes out. null/undefined: every class.
   */
  allowedDataClasses?: readonly string[] | null | undefined;
}

/** What the model and GET /v1/tools see of a tool. */
export interface ToolDeclaration {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  sideEffect: boolean;
  /** The caller must hold it, whatever the agent's policy says. */
  permission: Permission | null;
}

/** A tool as the run loop sees it: its declaration for the model and how to call it. */
export interface ResolvedTool extends ToolDeclaration {
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
 * A family of tools the registry draws from: the built-in knowledge and SQL tools, the tenant's
 * HTTP actions, and later MCP servers. `builtins` are the tools every tenant has (listed by GET
 * /v1/tools, accepted in agents under their names, which tenants may not take); `resolve` turns
 * names into callable tools for the tenant of `tx`, leaving out the names it does not know.
 */
export interface ToolSource {
  readonly kind: string;
  readonly builtins: readonly ToolDeclaration[];
  resolve(tx: TenantTx, names: readonly string[]): Promise<ResolvedTool[]>;
}

/** A source of built-in tools that need nothing from the tenant's rows: declarations and calls. */
export function builtinSource(
  kind: string,
  tools: readonly (ToolDeclaration & { call: ResolvedTool['call'] })[],
): ToolSource {
  const byName = new Map(tools.map((t) => [t.name, t]));
  return {
    kind,
    builtins: tools.map(({ call: _call, ...decl }) => decl),
    resolve: (_tx, names) =>
      Promise.resolve(
        names.flatMap((n) => {
          const tool = byName.get(n);
          return tool ? [tool] : [];
        }),
      ),
  };
}

/** Resolves tool names to callable tools across its sources, in the order they were registered. */
export class ToolRegistry {
  readonly #sources: ToolSource[] = [];
  readonly #builtins = new Map<string, ToolDeclaration>();

  /** Adds a source; its built-in names must be new (a tool name means one tool). */
  register(source: ToolSource): this {
    for (const t of source.builtins) {
      if (this.#builtins.has(t.name)) throw new Error(`tool '${t.name}' is registered twice`);
      this.#builtins.set(t.name, t);
    }
    this.#sources.push(source);
    return this;
  }

  /** The built-in tools of every source, for listings and agent validation. */
  builtins(): ToolDeclaration[] {
    return [...this.#builtins.values()];
  }

  isBuiltin(name: string): boolean {
    return this.#builtins.has(name);
  }

  /** The tools of `names` that exist (unknown names are simply absent). */
  async resolve(tx: TenantTx, names: readonly string[]): Promise<Map<string, ResolvedTool>> {
    const out = new Map<string, ResolvedTool>();
    for (const source of this.#sources) {
      const wanted = names.filter((n) => !out.has(n));
      if (wanted.length === 0) break;
      for (const tool of await source.resolve(tx, wanted)) out.set(tool.name, tool);
    }
    return out;
  }
}
