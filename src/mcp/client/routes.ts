import { z } from 'zod';
import { route, type AnyRoute } from '../../platform/http/route.js';
import {
  ConnectBody,
  ConnectStarted,
  ConnectionView,
  CreateMcpServerBody,
  McpServerParams,
  OAuthCallbackQuery,
  McpServerView,
  PatchMcpServerBody,
} from './schemas.js';
import type { McpServerService } from './servers-service.js';
import { CALLBACK_PATH, type UserConnections } from './user-connections.js';

const tags = ['mcp'];

/** /v1/mcp-servers: external MCP servers whose tools the tenant's agents may use. */
export function mcpServerRoutes(
  servers: McpServerService,
  connections: UserConnections,
): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/mcp-servers',
      auth: 'tenant',
      permission: 'agents:manage',
      summary:
        'Attach an external MCP server (Streamable HTTP); its credential is encrypted and never returned (audited).',
      tags,
      body: CreateMcpServerBody,
      status: 201,
      response: { 201: McpServerView },
      handler: ({ principal, body, meta }) => servers.create(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/mcp-servers',
      auth: 'tenant',
      permission: 'agents:run',
      summary: "The tenant's external MCP servers, with their cached tools and policies.",
      tags,
      response: { 200: z.object({ data: z.array(McpServerView) }) },
      handler: ({ principal }) => servers.list(principal),
    }),
    route({
      method: 'GET',
      url: '/v1/mcp-servers/:id',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'An external MCP server, with its cached tools and their policies.',
      tags,
      params: McpServerParams,
      response: { 200: McpServerView },
      handler: ({ principal, params }) => servers.get(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/mcp-servers/:id',
      auth: 'tenant',
      permission: 'agents:manage',
      summary:
        "Change an MCP server's URL, credential or policies; a new URL or credential drops the cached tools (audited).",
      tags,
      params: McpServerParams,
      body: PatchMcpServerBody,
      response: { 200: McpServerView },
      handler: ({ principal, params, body, meta }) =>
        servers.update(principal, params.id, body, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/mcp-servers/:id',
      auth: 'tenant',
      permission: 'agents:manage',
      summary: 'Detach an MCP server; agents listing its tools no longer find them (audited).',
      tags,
      params: McpServerParams,
      status: 204,
      handler: ({ principal, params, meta }) => servers.remove(principal, params.id, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/mcp-servers/:id/refresh',
      auth: 'tenant',
      permission: 'agents:manage',
      summary: "List the server's tools now and cache them as mcp.<server>.<tool> (audited).",
      tags,
      params: McpServerParams,
      response: { 200: McpServerView },
      handler: ({ principal, params, meta }) => servers.refresh(principal, params.id, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/mcp-servers/:id/connect',
      auth: 'tenant',
      permission: 'agents:run',
      summary:
        'Start connecting your own account to a per-user MCP server: the authorization URL to open (OAuth code + PKCE; audited).',
      tags,
      params: McpServerParams,
      body: ConnectBody,
      response: { 200: ConnectStarted },
      handler: ({ principal, params, body, meta }) =>
        connections.connect(principal, params.id, body ?? {}, meta),
    }),
    route({
      method: 'GET',
      url: CALLBACK_PATH,
      auth: 'tenant',
      permission: 'agents:run',
      summary:
        "The authorization server's redirect back (in the browser of the person who connected): checks state and iss, redeems the code, stores the tokens encrypted (audited).",
      tags,
      query: OAuthCallbackQuery,
      response: { 200: ConnectionView },
      handler: ({ principal, query, meta }) => connections.complete(principal, query, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/mcp-servers/:id/connection',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'Your own connection to a per-user MCP server (never its tokens).',
      tags,
      params: McpServerParams,
      response: { 200: ConnectionView },
      handler: ({ principal, params }) => connections.get(principal, params.id),
    }),
    route({
      method: 'DELETE',
      url: '/v1/mcp-servers/:id/connection',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'Forget your tokens for a per-user MCP server (audited).',
      tags,
      params: McpServerParams,
      status: 204,
      handler: ({ principal, params, meta }) => connections.disconnect(principal, params.id, meta),
    }),
  ];
}
