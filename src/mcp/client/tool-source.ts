import type { ResolvedTool, ToolSource } from '../../copilot/index.js';
import type { TenantTx } from '../../platform/db/database.js';
import type { Keyring } from '../../platform/secrets/envelope.js';
import type { McpConnections } from './connection.js';
import { targetOf } from './credentials.js';
import { cachedTools, policyOf } from './policy.js';
import { serversByName } from './servers-store.js';

export const MCP_PREFIX = 'mcp.';

/**
 * The copilot's `mcp.<server>.<tool>` tools: resolved from the tenant's servers and their last
 * listing (POST /v1/mcp-servers/:id/refresh), each carrying the tenant's policy for it.
 */
export class McpToolSource implements ToolSource {
  readonly kind = 'mcp';
  /** No tool every tenant has: each tenant's come from its own servers. */
  readonly builtins = [];

  constructor(
    private readonly connections: McpConnections,
    private readonly keyring: Keyring | undefined,
  ) {}

  async resolve(tx: TenantTx, all: readonly string[]): Promise<ResolvedTool[]> {
    const names = all.filter((n) => n.startsWith(MCP_PREFIX));
    if (names.length === 0) return [];
    const serverNames = [...new Set(names.map((n) => n.slice(MCP_PREFIX.length).split('.')[0]))];
    const rows = await serversByName(
      tx,
      serverNames.filter((n): n is string => n !== undefined),
    );
    const wanted = new Set(names);
    const out: ResolvedTool[] = [];
    for (const row of rows)
      for (const tool of cachedTools(row) ?? []) {
        if (!wanted.has(tool.registryName)) continue;
        const readOnly = tool.annotations?.readOnlyHint === true;
        out.push({
          name: tool.registryName,
          description: tool.description,
          parameters: tool.inputSchema,
          // The hint only labels the call; the policy below, not the hint, decides approval.
          sideEffect: !readOnly,
          permission: null,
          policy: policyOf(row, tool),
          // Decrypted at call time, not kept with the resolved tool.
          call: ({ args }) =>
            this.connections.callTool(targetOf(this.keyring, row), tool.name, args),
        });
      }
    return out;
  }
}
