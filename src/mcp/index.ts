import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { RunService, ToolSource } from '../copilot/index.js';
import type { ModelCalls } from '../gateway/index.js';
import type { AnswerService, DocumentService, SearchService } from '../knowledge/index.js';
import type { Database } from '../platform/db/database.js';
import type { Authenticator } from '../platform/http/route.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import type { SourceService, SqlQueryService } from '../sql/index.js';
import { McpConnections } from './client/connection.js';
import { mcpServerRoutes } from './client/routes.js';
import { McpServerService } from './client/servers-service.js';
import { McpToolSource } from './client/tool-source.js';
import { CALLBACK_PATH, UserConnections } from './client/user-connections.js';
import { guardedFetch } from '../platform/net/guarded-fetch.js';
import { conformanceServer } from './server/fixtures.js';
import { MCP_PATH, registerMcpEndpoint, type McpEndpointOptions } from './server/http.js';
import { serverFor } from './server/tools.js';

const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** Host names /mcp accepts by default: PUBLIC_URL's and the loopback names. */
function defaultHosts(publicUrl: string | undefined): string[] {
  return publicUrl ? [new URL(publicUrl).hostname.toLowerCase(), ...LOCAL_HOSTS] : LOCAL_HOSTS;
}

/**
 * The resource URI Rampart's access tokens for /mcp are minted for (RFC 8707 `resource`):
 * `<PUBLIC_URL>/mcp`, or the local default the identity feature uses as its issuer.
 */
export function mcpResource(config: Pick<Config, 'PUBLIC_URL' | 'PORT'>): string {
  return `${publicBase(config)}${MCP_PATH}`;
}

/** Rampart's public base URL (PUBLIC_URL, else the local default). */
function publicBase(config: Pick<Config, 'PUBLIC_URL' | 'PORT'>): string {
  return config.PUBLIC_URL ?? `http://localhost:${config.PORT}`;
}

type McpConfig = Pick<
  Config,
  | 'PUBLIC_URL'
  | 'PORT'
  | 'MCP_ALLOWED_HOSTS'
  | 'MCP_ALLOWED_ORIGINS'
  | 'MCP_RUN_WAIT_MS'
  | 'MCP_CLIENT_TIMEOUT_MS'
  | 'MCP_TOOL_RETRIES'
  | 'MCP_TOOL_RETRY_BASE_MS'
  | 'MCP_TOOLS_CACHE_TTL_SECONDS'
  | 'MCP_CONFORMANCE_FIXTURES'
  | 'OUTBOUND_ALLOW_PRIVATE_ADDRESSES'
  | 'GATEWAY_BREAKER_THRESHOLD'
  | 'GATEWAY_BREAKER_COOLDOWN_MS'
>;

/** The outbound side: connections to tenants' external MCP servers (used by serve and worker). */
export function createMcpClient(deps: {
  db: Database;
  config: McpConfig;
  keyring: Keyring | undefined;
}): {
  connections: McpConnections;
  users: UserConnections;
  toolSource: ToolSource;
  close(): Promise<void>;
} {
  const { config } = deps;
  const connections = new McpConnections({
    allowPrivate: config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
    timeoutMs: config.MCP_CLIENT_TIMEOUT_MS,
    breakerThreshold: config.GATEWAY_BREAKER_THRESHOLD,
    breakerCooldownMs: config.GATEWAY_BREAKER_COOLDOWN_MS,
    retries: config.MCP_TOOL_RETRIES,
    retryBaseMs: config.MCP_TOOL_RETRY_BASE_MS,
  });
  const users = new UserConnections(deps.db, deps.keyring, {
    fetch: guardedFetch(config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES, config.MCP_CLIENT_TIMEOUT_MS),
    redirectUri: `${publicBase(config)}${CALLBACK_PATH}`,
  });
  return {
    connections,
    users,
    toolSource: new McpToolSource(connections, deps.keyring, users),
    close: () => connections.close(),
  };
}

export interface McpDeps {
  db: Database;
  config: McpConfig;
  logger: Logger;
  auth: Authenticator;
  /** Rampart's access tokens minted for /mcp's resource URI (see mcpResource). */
  accessTokens?: McpEndpointOptions['accessTokens'];
  /** The issuer of Rampart's own authorization server, listed in /mcp's metadata. */
  authorizationServer?: string | undefined;
  keyring: Keyring | undefined;
  connections: McpConnections;
  users: UserConnections;
  services: {
    documents: DocumentService;
    search: SearchService;
    answers: AnswerService;
    sqlQueries: SqlQueryService;
    sqlSources: SourceService;
    runs: RunService;
    calls: ModelCalls;
  };
}

/**
 * MCP (issue #25): Rampart as an MCP server at /mcp, and the /v1/mcp-servers API through which
 * a tenant attaches external MCP servers whose tools its agents use.
 */
export async function registerMcp(app: FastifyInstance, deps: McpDeps): Promise<AnyRoute[]> {
  const { config } = deps;
  await registerMcpEndpoint(app, {
    auth: deps.auth,
    accessTokens: deps.accessTokens,
    authorizationServer: deps.authorizationServer,
    resource: mcpResource(config),
    allowedHosts: config.MCP_ALLOWED_HOSTS ?? defaultHosts(config.PUBLIC_URL),
    allowedOrigins: config.MCP_ALLOWED_ORIGINS ?? defaultHosts(config.PUBLIC_URL),
    publicUrl: config.PUBLIC_URL,
    serverFor: (principal, meta) =>
      serverFor(principal, meta, {
        ...deps.services,
        logger: deps.logger,
        runWaitMs: config.MCP_RUN_WAIT_MS,
      }),
    fixtures: config.MCP_CONFORMANCE_FIXTURES ? conformanceServer : undefined,
  });
  const servers = new McpServerService(deps.db, deps.keyring, deps.connections, deps.users, {
    toolsTtlSeconds: config.MCP_TOOLS_CACHE_TTL_SECONDS,
  });
  return mcpServerRoutes(servers, deps.users);
}
