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
  // Per-user: each person connects their own account (authorization code + PKCE). The client is
  // registered dynamically when the authorization server offers it, else this one is used.
  z.object({
    type: z.literal('oauth-authorization-code'),
    clientId: safeString().min(1).max(500).optional(),
    clientSecret: safeString().min(1).max(8192).optional(),
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
    type: z.enum([
      'none',
      'bearer',
      'headers',
      'oauth-client-credentials',
      'oauth-authorization-code',
    ]),
    /** The header names (never their values). */
    headerNames: z.array(z.string()).optional(),
    clientId: z.string().optional(),
    scope: z.string().optional(),
    hasCredential: z.boolean(),
  }),
  /** Each user connects their own account (auth type oauth-authorization-code). */
  perUser: z.boolean(),
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

export const ConnectBody = z.object({
  /** Asked of the authorization server; unset: the server's configured scope, else its own. */
  scope: safeString().max(1000).optional(),
});
export type ConnectBody = z.infer<typeof ConnectBody>;

export const ConnectStarted = z.object({
  /** Send the person's browser here; the authorization server redirects back to the callback. */
  authorizationUrl: z.string(),
  expiresAt: z.string(),
});

export const OAuthCallbackQuery = z.object({
  state: safeString().min(1).max(500),
  code: safeString().min(1).max(4000).optional(),
  iss: safeString().max(2000).optional(),
  error: safeString().max(200).optional(),
  error_description: safeString().max(2000).optional(),
});
export type OAuthCallbackQuery = z.infer<typeof OAuthCallbackQuery>;

/** The caller's own connection to a per-user server (never its tokens). */
export const ConnectionView = z.object({
  serverId: z.string(),
  server: z.string(),
  connected: z.literal(true),
  scope: z.string().nullable(),
  accessExpiresAt: z.string().nullable(),
  hasRefreshToken: z.boolean(),
  connectedAt: z.string(),
  refreshedAt: z.string().nullable(),
});
export type ConnectionView = z.infer<typeof ConnectionView>;
