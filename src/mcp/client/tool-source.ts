import type { ResolvedTool, ToolSource } from '../../copilot/index.js';
import type { TenantTx } from '../../platform/db/database.js';
import type { Keyring } from '../../platform/secrets/envelope.js';
import type { McpConnections } from './connection.js';
import { targetOf, targetWithToken } from './credentials.js';
import { cachedTools, policyOf } from './policy.js';
import { serversByName } from './servers-store.js';
import { PER_USER, type UserConnections } from './user-connections.js';

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
    private readonly users: UserConnections,
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
        const policy = policyOf(row, tool);
        // Free of side effects only when the server says read-only (and not destructive) and the
        // tenant lets it run unasked: a tool the tenant wants approved is treated as consequential.
        const retrySafe =
          tool.annotations?.readOnlyHint === true &&
          tool.annotations.destructiveHint !== true &&
          policy === 'always';
        out.push({
          name: tool.registryName,
          description: tool.description,
          parameters: tool.inputSchema,
          // The hint only labels the call; the policy below, not the hint, decides approval.
          sideEffect: !retrySafe,
          permission: null,
          policy,
          // Decrypted at call time, not kept with the resolved tool. A per-user server gets the
          // run caller's own token for it; nothing else of the caller's is ever sent.
          call: async ({ principal, args }) =>
            this.connections.callTool(
              row.auth_type === PER_USER
                ? targetWithToken(row, await this.users.accessToken(principal, row))
                : targetOf(this.keyring, row),
              tool.name,
              args,
              { retrySafe },
            ),
        });
      }
    return out;
  }
}
