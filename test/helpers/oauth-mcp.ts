import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import { z } from 'zod';

/**
 * A small OAuth 2.1 authorization server and an MCP server that requires its tokens, both real
 * HTTP on loopback: RFC 8414 metadata, RFC 7591 registration (optional), authorization code with
 * PKCE S256 (the challenge really checked), RFC 8707 resource (bound into the token and checked
 * by the MCP server), RFC 9207 `iss` on the redirect, refresh tokens that rotate. The sign-in
 * page is replaced by a `login` query parameter: whoever opens the URL with `login=alice` is
 * alice.
 */
export interface OAuthMcp {
  issuer: string;
  mcpUrl: string;
  /** Every /authorize request's parameters. */
  authorizeRequests: URLSearchParams[];
  /** Every /token request's grant type. */
  tokenGrants: string[];
  registrations: number;
  /** Authorization headers the MCP server received. */
  mcpAuth: string[];
  /** whoami calls: the user each token belonged to. */
  calls: string[];
  /** Lifetime of access tokens issued from now on. */
  accessTtlSeconds: number;
  /** Pre-registered client (always accepted). */
  client: { id: string; secret: string };
  /** Redirect URIs the pre-registered client may use. */
  preRegisteredUris: string[];
  /** Opens the authorization URL as `login`; the redirect's URL (to Rampart's callback). */
  authorize(url: string, login: string): Promise<URL>;
  close(): Promise<void>;
}

interface Grant {
  user: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
  resource: string;
  scope: string;
}
interface Token {
  user: string;
  resource: string;
  expiresAt: number;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer((req, res) => {
    try {
      handler(req, res);
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

export async function startOAuthMcp(opts: { registration?: boolean } = {}): Promise<OAuthMcp> {
  const clients = new Map<string, { secret: string; redirectUris: string[] }>();
  const grants = new Map<string, Grant>();
  const tokens = new Map<string, Token>();
  const refreshTokens = new Map<string, Grant>();
  const rnd = () => randomBytes(16).toString('hex');
  const preRegisteredUris: string[] = [];
  const state: Omit<OAuthMcp, 'authorize' | 'close' | 'issuer' | 'mcpUrl'> = {
    authorizeRequests: [],
    tokenGrants: [],
    registrations: 0,
    mcpAuth: [],
    calls: [],
    accessTtlSeconds: 3600,
    client: { id: 'preregistered', secret: 'preregistered-secret-0123456789' },
    preRegisteredUris,
  };
  clients.set(state.client.id, { secret: state.client.secret, redirectUris: preRegisteredUris });

  let issuer = '';
  let mcpUrl = '';
  const as = await listen((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/.well-known/oauth-authorization-server')
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        ...(opts.registration === false ? {} : { registration_endpoint: `${issuer}/register` }),
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        authorization_response_iss_parameter_supported: true,
      });
    if (url.pathname === '/register' && req.method === 'POST' && opts.registration !== false)
      return void readBody(req).then((b) => {
        const meta = JSON.parse(b) as { redirect_uris: string[] };
        const id = `dcr-${rnd()}`;
        const secret = rnd();
        clients.set(id, { secret, redirectUris: meta.redirect_uris });
        state.registrations++;
        json(res, 201, { ...meta, client_id: id, client_secret: secret });
      });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      state.authorizeRequests.push(q);
      const client = clients.get(q.get('client_id') ?? '');
      const redirect = q.get('redirect_uri') ?? '';
      if (!client || !client.redirectUris.includes(redirect))
        return json(res, 400, { error: 'invalid_client' });
      if (
        q.get('code_challenge_method') !== 'S256' ||
        !q.get('code_challenge') ||
        !q.get('resource')
      )
        return json(res, 400, { error: 'invalid_request' });
      const code = rnd();
      grants.set(code, {
        user: q.get('login') ?? 'nobody',
        clientId: q.get('client_id') ?? '',
        redirectUri: redirect,
        challenge: q.get('code_challenge') ?? '',
        resource: q.get('resource') ?? '',
        scope: q.get('scope') ?? '',
      });
      const back = new URL(redirect);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      back.searchParams.set('iss', issuer);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST')
      return void readBody(req).then((b) => {
        const form = new URLSearchParams(b);
        state.tokenGrants.push(form.get('grant_type') ?? '');
        let clientId = form.get('client_id') ?? '';
        let secret = form.get('client_secret') ?? '';
        const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
        if (basic?.[1]) {
          const [id, sec] = Buffer.from(basic[1], 'base64').toString().split(':');
          clientId = decodeURIComponent(id ?? '');
          secret = decodeURIComponent(sec ?? '');
        }
        if (clients.get(clientId)?.secret !== secret)
          return json(res, 401, { error: 'invalid_client' });
        let grant: Grant | undefined;
        if (form.get('grant_type') === 'authorization_code') {
          grant = grants.get(form.get('code') ?? '');
          grants.delete(form.get('code') ?? '');
          const verifier = form.get('code_verifier') ?? '';
          const challenge = createHash('sha256').update(verifier).digest('base64url');
          if (
            !grant ||
            grant.clientId !== clientId ||
            grant.challenge !== challenge ||
            grant.redirectUri !== form.get('redirect_uri') ||
            grant.resource !== form.get('resource')
          )
            return json(res, 400, { error: 'invalid_grant' });
        } else if (form.get('grant_type') === 'refresh_token') {
          grant = refreshTokens.get(form.get('refresh_token') ?? '');
          // Rotation: a refresh token is spent by its use.
          refreshTokens.delete(form.get('refresh_token') ?? '');
          if (!grant || grant.clientId !== clientId)
            return json(res, 400, { error: 'invalid_grant' });
        } else return json(res, 400, { error: 'unsupported_grant_type' });
        const access = `at-${grant.user}-${rnd()}`;
        const refresh = `rt-${rnd()}`;
        tokens.set(access, {
          user: grant.user,
          resource: grant.resource,
          expiresAt: Date.now() + state.accessTtlSeconds * 1000,
        });
        refreshTokens.set(refresh, grant);
        json(res, 200, {
          access_token: access,
          token_type: 'Bearer',
          expires_in: state.accessTtlSeconds,
          refresh_token: refresh,
          scope: grant.scope,
        });
      });
    json(res, 404, { error: 'not_found' });
  });
  issuer = `http://127.0.0.1:${as.port}`;

  let caller = '';
  const handler = createMcpHandler(() => {
    const s = new McpServer({ name: 'tickets', version: '1' });
    s.registerTool(
      'whoami',
      {
        description: 'Who the token belongs to.',
        inputSchema: z.object({}),
        annotations: { readOnlyHint: true },
      },
      () => {
        state.calls.push(caller);
        return { content: [{ type: 'text', text: `you are ${caller}` }] };
      },
    );
    return s;
  });
  const mcp = await listen((req, res) => {
    const url = new URL(req.url ?? '/', mcpUrl);
    if (url.pathname === '/.well-known/oauth-protected-resource/mcp')
      return json(res, 200, {
        resource: mcpUrl,
        authorization_servers: [issuer],
        scopes_supported: ['tickets:read'],
      });
    const auth = req.headers.authorization ?? '';
    state.mcpAuth.push(auth);
    const token = tokens.get(auth.replace(/^Bearer /, ''));
    if (!token || token.expiresAt < Date.now() || token.resource !== mcpUrl) {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer resource_metadata="${new URL('/.well-known/oauth-protected-resource/mcp', mcpUrl).href}", scope="tickets:read"`,
        })
        .end();
      return;
    }
    void readBody(req).then(async (body) => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string') headers.set(k, v);
      caller = token.user;
      const r = await handler.fetch(
        new Request(url.href, {
          method: req.method ?? 'GET',
          headers,
          ...(req.method === 'POST' ? { body } : {}),
        }),
      );
      res.writeHead(r.status, Object.fromEntries(r.headers.entries()));
      res.end(Buffer.from(await r.arrayBuffer()));
    });
  });
  mcpUrl = `http://127.0.0.1:${mcp.port}/mcp`;

  const close = (s: Server) =>
    new Promise<void>((r) => {
      s.closeAllConnections();
      s.close(() => r());
    });
  return Object.assign(state, {
    issuer,
    mcpUrl,
    async authorize(authorizationUrl: string, login: string): Promise<URL> {
      const u = new URL(authorizationUrl);
      u.searchParams.set('login', login);
      const res = await fetch(u, { redirect: 'manual' });
      const location = res.headers.get('location');
      if (res.status !== 302 || !location)
        throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
      return new URL(location);
    },
    close: async () => {
      await close(as.server);
      await close(mcp.server);
    },
  });
}
