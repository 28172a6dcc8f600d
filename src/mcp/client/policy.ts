import type { Tool } from '@modelcontextprotocol/client';
import { z } from 'zod';
import { ToolPolicy } from '../../copilot/index.js';
import { CachedTool } from './schemas.js';
import type { McpServerRow } from './servers-store.js';

const Policies = z.record(z.string(), ToolPolicy);
const CachedTools = z.array(CachedTool);

export function toolPolicies(row: McpServerRow): Record<string, ToolPolicy> {
  const parsed = Policies.safeParse(row.tool_policies);
  return parsed.success ? parsed.data : {};
}

export function cachedTools(row: McpServerRow): CachedTool[] | null {
  if (row.tools === null) return null;
  const parsed = CachedTools.safeParse(row.tools);
  return parsed.success ? parsed.data : null;
}

/**
 * A tool's policy: the tenant's choice for the tool, else the server's default, else its
 * annotations (readOnlyHint: always; anything else: ask). Annotations are the server's own
 * claims, so they only ever fill a gap the tenant left.
 */
export function policyOf(row: McpServerRow, tool: CachedTool): ToolPolicy {
  const explicit = toolPolicies(row)[tool.name];
  if (explicit) return explicit;
  const fallback = ToolPolicy.safeParse(row.default_policy);
  if (fallback.success) return fallback.data;
  return tool.annotations?.readOnlyHint === true ? 'always' : 'ask';
}

/** `mcp.<server>.<tool>`, made to fit the registry's names (lower case, up to 64 characters). */
export function registryName(server: string, tool: string): string {
  const prefix = `mcp.${server}.`;
  const rest = tool.toLowerCase().replace(/[^a-z0-9_-]/g, '_');
  return `${prefix}${rest}`.slice(0, 64);
}

/** The listing as cached: one entry per registry name (the first of any that collide). */
export function cacheTools(server: string, tools: readonly Tool[]): CachedTool[] {
  const seen = new Set<string>();
  const out: CachedTool[] = [];
  for (const t of tools) {
    const name = registryName(server, t.name);
    if (seen.has(name)) continue;
    seen.add(name);
    // The copilot validates arguments with ajv's default dialect, which refuses a `$schema` it
    // does not know (2020-12); the keywords tools use are read the same without it.
    const { $schema: _dialect, ...inputSchema } = t.inputSchema;
    out.push({
      name: t.name,
      registryName: name,
      description: (t.description ?? t.title ?? t.name).slice(0, 2000),
      inputSchema,
      annotations: t.annotations ? { ...t.annotations } : null,
    });
  }
  return out;
}
