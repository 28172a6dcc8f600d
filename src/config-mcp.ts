import { z } from 'zod';
import { bool, int, type SettingDef } from './config-schema.js';

/** A comma-separated list of host names (no scheme, no port), lower-cased. */
const hostList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[a-z0-9.\-[\]:*]{1,253}$/, 'a host name')));

/** Settings of the MCP server (/mcp) and of the external MCP servers tenants attach. */
export const mcpSettings = {
  MCP_ALLOWED_HOSTS: {
    schema: hostList.optional(),
    description:
      "Host names /mcp answers for (DNS-rebinding protection, checked against the Host header). Unset: PUBLIC_URL's host name plus localhost, 127.0.0.1 and [::1].",
  },
  MCP_ALLOWED_ORIGINS: {
    schema: hostList.optional(),
    description:
      "Origin host names a browser-based MCP client may call /mcp from (a request without Origin passes). Unset: PUBLIC_URL's host name plus localhost, 127.0.0.1 and [::1].",
  },
  MCP_RUN_WAIT_MS: {
    schema: int(0, 600_000).default(20_000),
    description:
      "MCP tool run_agent: how long it waits for the run to finish before answering with the run's id and status.",
    defaultText: '20000',
  },
  MCP_CLIENT_TIMEOUT_MS: {
    schema: int(100, 600_000).default(30_000),
    description:
      'External MCP servers: longest wait for one request (connect, list tools, call a tool); a server that hangs fails the call with mcp_timeout.',
    defaultText: '30000',
  },
  MCP_TOOL_RETRIES: {
    schema: int(0, 10).default(2),
    description:
      "External MCP servers: further attempts of a read-only tool call (readOnlyHint, not destructive, and the tenant's policy 'always') after a transient failure (connection refused or reset, 5xx); other tools are never retried.",
    defaultText: '2',
  },
  MCP_TOOL_RETRY_BASE_MS: {
    schema: int(1, 60_000).default(200),
    description:
      'External MCP servers: first backoff delay of those retries (exponential, full jitter, at most 10 s).',
    defaultText: '200',
  },
  MCP_TOOLS_CACHE_TTL_SECONDS: {
    schema: int(0, 7 * 86_400).default(3600),
    description:
      "External MCP servers: how long a refreshed tool list is used before it is listed again (the server's own ttlMs, when it sends one, wins).",
    defaultText: '3600',
  },
  MCP_CONFORMANCE_FIXTURES: {
    schema: bool.default(false),
    description:
      'Test only: serves the MCP conformance suite’s fixture tools, resources and prompts at /mcp/conformance, without authentication and with no tenant data. Never set it in production.',
    defaultText: 'false',
  },
} satisfies Record<string, SettingDef>;
