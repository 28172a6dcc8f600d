import {
  createMcpHandler,
  type AuthInfo,
  type McpHttpHandler,
  type McpServerFactory,
} from '@modelcontextprotocol/server';
import { hostHeaderValidation, originValidation } from '@modelcontextprotocol/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, Unauthorized } from '../../platform/http/errors.js';
import type { Principal, RequestMeta } from '../../platform/http/principal.js';
import { requestMeta, type Authenticator } from '../../platform/http/route.js';

export const MCP_PATH = '/mcp';
export const METADATA_PATH = '/.well-known/oauth-protected-resource/mcp';
export const CONFORMANCE_PATH = '/mcp/conformance';

export interface McpEndpointOptions {
  auth: Authenticator;
  /**
   * Rampart's own access tokens minted for this resource (`resource`: POST /auth/token with
   * `resource` = it): a token of Rampart's for any other audience is refused here, never used.
   */
  accessTokens?: {
    isOwn(token: string): boolean;
    verify(token: string, audience: string): Promise<Principal | undefined>;
  };
  /**
   * Rampart's OAuth authorization server (its issuer), which issues tokens for this resource
   * through the authorization-code flow (identity/oauth-*.ts, decision 026).
   */
  authorizationServer?: string | undefined;
  /** The resource URI tokens for /mcp are minted for (`<PUBLIC_URL>/mcp`). */
  resource: string;
  /** Host names the Host header may carry, and browser origins' host names (DNS rebinding). */
  allowedHosts: string[];
  allowedOrigins: string[];
  /** PUBLIC_URL when set: the resource identifier; else the request's own origin. */
  publicUrl: string | undefined;
  /** Builds the caller's server for one request. */
  serverFor(principal: Principal, meta: RequestMeta): ReturnType<McpServerFactory>;
  /** Test-only conformance fixtures at /mcp/conformance (MCP_CONFORMANCE_FIXTURES). */
  fixtures?: McpServerFactory | undefined;
}

/** The caller of each in-flight request, keyed by the AuthInfo the SDK passes through as-is. */
const callers = new WeakMap<AuthInfo, { principal: Principal; meta: RequestMeta }>();

function origin(request: FastifyRequest, publicUrl: string | undefined): string {
  return publicUrl ? new URL(publicUrl).origin : `${request.protocol}://${request.host}`;
}

/** The web Request the SDK's handler serves, from Fastify's request and its raw body text. */
function webRequest(request: FastifyRequest, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(request.headers)) {
    if (typeof v === 'string') headers.set(k, v);
    else if (Array.isArray(v)) for (const item of v) headers.append(k, item);
  }
  const body = typeof request.body === 'string' ? request.body : undefined;
  return new Request(`${request.protocol}://${request.host}${request.url}`, {
    method: request.method,
    headers,
    signal,
    ...(body !== undefined && request.method === 'POST' ? { body } : {}),
  });
}

async function serve(
  handler: McpHttpHandler,
  request: FastifyRequest,
  reply: FastifyReply,
  authInfo: AuthInfo | undefined,
): Promise<FastifyReply> {
  // A client that goes away cancels its exchange (and its SSE stream).
  const ac = new AbortController();
  reply.raw.on('close', () => ac.abort());
  const res = await handler.fetch(webRequest(request, ac.signal), authInfo ? { authInfo } : {});
  return reply.send(res);
}

/**
 * Streamable HTTP at /mcp (revision 2026-07-28 and the 2025 era, stateless, through the SDK's
 * createMcpHandler), its RFC 9728 metadata, and, in tests only, the conformance fixtures.
 * Host and Origin are checked first (DNS rebinding), then the bearer credential, exactly as
 * on the REST API; a 401 names the metadata in WWW-Authenticate.
 */
export async function registerMcpEndpoint(
  app: FastifyInstance,
  opts: McpEndpointOptions,
): Promise<McpHttpHandler> {
  const handler = createMcpHandler((ctx) => {
    const caller = ctx.authInfo ? callers.get(ctx.authInfo) : undefined;
    // Unreachable through the route (it authenticates first); refuse rather than serve anonymously.
    if (!caller) throw new Unauthorized();
    return opts.serverFor(caller.principal, caller.meta);
  });
  const fixtures = opts.fixtures ? createMcpHandler(opts.fixtures) : undefined;
  app.addHook('onClose', async () => {
    await handler.close();
    await fixtures?.close();
  });
  const guards = [hostHeaderValidation(opts.allowedHosts), originValidation(opts.allowedOrigins)];

  app.get(METADATA_PATH, { schema: { hide: true } }, (request) => ({
    resource: `${origin(request, opts.publicUrl)}${MCP_PATH}`,
    // Rampart's own authorization server issues tokens for this resource (authorization code
    // with PKCE); an API key works as a bearer too.
    authorization_servers: opts.authorizationServer ? [opts.authorizationServer] : [],
    scopes_supported: ['mcp'],
    bearer_methods_supported: ['header'],
    resource_name: 'Rampart',
    resource_documentation: `${origin(request, opts.publicUrl)}/docs`,
  }));

  await app.register(async (scope) => {
    // The SDK parses the JSON-RPC body itself (parse errors are JSON-RPC errors, not problems).
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) =>
      done(null, body),
    );
    scope.route({
      method: ['GET', 'POST', 'DELETE'],
      url: MCP_PATH,
      schema: { hide: true },
      onRequest: [
        ...guards,
        async (request) => {
          const meta = requestMeta(request);
          const challenge = `Bearer realm="rampart", resource_metadata="${origin(request, opts.publicUrl)}${METADATA_PATH}"`;
          const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
          if (token && opts.accessTokens?.isOwn(token)) {
            // One of Rampart's access tokens: valid here only if minted for this resource.
            const principal = await opts.accessTokens.verify(token, opts.resource);
            if (!principal)
              throw new AppError(
                401,
                'invalid_token',
                `The access token is not valid for ${opts.resource} (wrong audience, expired or revoked).`,
                undefined,
                { 'www-authenticate': `${challenge}, error="invalid_token"` },
              );
            request.principal = principal;
            return;
          }
          try {
            request.principal = await opts.auth.tenant(request, meta);
          } catch (err) {
            if (err instanceof AppError && err.status === 401)
              throw new AppError(401, err.code, err.message, err.extra, {
                'www-authenticate': challenge,
              });
            throw err;
          }
        },
      ],
      handler: (request, reply) => {
        const principal = request.principal;
        if (!principal) throw new Unauthorized();
        const authInfo: AuthInfo = {
          token: '',
          clientId: principal.keyId ?? principal.userId ?? '',
          scopes: [...principal.permissions],
        };
        callers.set(authInfo, { principal, meta: requestMeta(request, reply) });
        return serve(handler, request, reply, authInfo);
      },
    });
    if (fixtures)
      scope.route({
        method: ['GET', 'POST', 'DELETE'],
        url: CONFORMANCE_PATH,
        schema: { hide: true },
        onRequest: guards,
        handler: (request, reply) => serve(fixtures, request, reply, undefined),
      });
  });
  return handler;
}
