import { z } from 'zod';
import { ToolPolicy } from '../../copilot/index.js';
import { safeString } from '../../platform/http/safe-string.js';

export const ServerName = safeString().regex(
  /^[a-z][a-z0-9_-]{0,31}$/,
  'lower-case letters, digits, _ and - (up to 32), starting with a letter',
);
const HttpUrl = safeString()
  .max(2000)
  .regex(/^https?:\/\/\S+$/, 'an http(s) URL');
const HeaderName = safeString().regex(/^[A-Za-z0-9-]{1,100}$/);

export const ServerAuth = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }),
  z.object({ type: z.literal('bearer'), token: safeString().min(1).max(8192) }),
  z.object({
    type: z.literal('headers'),
    headers: z
      .record(HeaderName, safeString().min(1).max(8192))
      .refine((h) => Object.keys(h).length >= 1 && Object.keys(h).length <= 16, '1 to 16 headers'),
  }),
  z.object({
    type: z.literal('oauth-client-credentials'),
    clientId: safeString().min(1).max(500),
    clientSecret: safeString().min(1).max(8192),
    scope: safeString().max(1000).optional(),
  }),
]);
export type ServerAuth = z.infer<typeof ServerAuth>;

const ToolPolicies = z
  .record(safeString().min(1).max(128), ToolPolicy)
  .refine((p) => Object.keys(p).length <= 500, 'at most 500 tools');

export const CreateMcpServerBody = z.object({
  name: ServerName,
  url: HttpUrl,
  auth: ServerAuth.default({ type: 'none' }),
  /** Every tool's policy unless toolPolicies names it; unset: from its annotations. */
  defaultPolicy: ToolPolicy.nullable().optional(),
  /** Per tool (by its name on the server): the tenant's choice, which always wins. */
  toolPolicies: ToolPolicies.optional(),
});
export type CreateMcpServerBody = z.infer<typeof CreateMcpServerBody>;

export const PatchMcpServerBody = z
  .object({
    url: HttpUrl,
    auth: ServerAuth,
    defaultPolicy: ToolPolicy.nullable(),
    toolPolicies: ToolPolicies,
  })
  .partial();
export type PatchMcpServerBody = z.infer<typeof PatchMcpServerBody>;

export const McpServerParams = z.object({ id: z.uuid() });

/** A tool as listed by the server, with what Rampart makes of it. */
export const CachedTool = z.object({
  /** Its name on the server. */
  name: z.string(),
  /** Its name in the copilot's registry: mcp.<server>.<tool>. */
  registryName: z.string(),
  description: z.string(),
  inputSchema: z.record(z.string(), z.unknown()),
  /** As the server declared them: hints, never trusted. */
  annotations: z.record(z.string(), z.unknown()).nullable(),
});
export type CachedTool = z.infer<typeof CachedTool>;

export const McpToolView = CachedTool.extend({ policy: ToolPolicy });

export const McpServerView = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  auth: z.object({
    type: z.enum(['none', 'bearer', 'headers', 'oauth-client-credentials']),
    /** The header names (never their values). */
    headerNames: z.array(z.string()).optional(),
    clientId: z.string().optional(),
    scope: z.string().optional(),
    hasCredential: z.boolean(),
  }),
  defaultPolicy: ToolPolicy.nullable(),
  toolPolicies: z.record(z.string(), ToolPolicy),
  /** null until the first refresh. */
  tools: z.array(McpToolView).nullable(),
  toolsRefreshedAt: z.string().nullable(),
  toolsExpireAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type McpServerView = z.infer<typeof McpServerView>;
