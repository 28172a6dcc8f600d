import { describe, expect, it } from 'vitest';
import { stricterPolicy } from '../../copilot/index.js';
import { cacheTools, policyOf, registryName } from './policy.js';
import type { McpServerRow } from './servers-store.js';

const row = (over: Partial<McpServerRow> = {}): McpServerRow => ({
  id: 'id',
  tenant_id: 't',
  name: 'ext',
  url: 'https://mcp.example/mcp',
  auth_type: 'none',
  auth_meta: {},
  default_policy: null,
  tool_policies: {},
  tools: null,
  tools_at: null,
  tools_expires_at: null,
  created_at: new Date(0),
  updated_at: new Date(0),
  ...over,
});

const [readOnly, destructive, bare] = cacheTools('ext', [
  { name: 'Get.Weather', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
  { name: 'drop', inputSchema: { type: 'object' }, annotations: { destructiveHint: true } },
  { name: 'bare', inputSchema: { type: 'object' } },
]);

describe('external MCP tool policies', () => {
  it('defaults from annotations: read-only runs, anything else asks', () => {
    expect(readOnly && policyOf(row(), readOnly)).toBe('always');
    expect(destructive && policyOf(row(), destructive)).toBe('ask');
    expect(bare && policyOf(row(), bare)).toBe('ask');
  });

  it("the tenant's word wins over annotations: per tool first, then the server's default", () => {
    const r = row({ default_policy: 'deny', tool_policies: { 'Get.Weather': 'ask' } });
    expect(readOnly && policyOf(r, readOnly)).toBe('ask');
    expect(bare && policyOf(r, bare)).toBe('deny');
  });

  it('names tools mcp.<server>.<tool> within the registry rule, without collisions', () => {
    expect(readOnly?.registryName).toBe('mcp.ext.get_weather');
    expect(registryName('ext', 'x'.repeat(100))).toHaveLength(64);
    expect(
      cacheTools('ext', [
        { name: 'a.b', inputSchema: { type: 'object' } },
        { name: 'a_b', inputSchema: { type: 'object' } },
      ]).map((t) => t.name),
    ).toEqual(['a.b']);
  });

  it('a run applies the stricter of the agent entry and the tool source', () => {
    expect(stricterPolicy('always', 'ask')).toBe('ask');
    expect(stricterPolicy('ask', 'always')).toBe('ask');
    expect(stricterPolicy('always', undefined)).toBe('always');
    expect(stricterPolicy('ask', 'deny')).toBe('deny');
  });
});
