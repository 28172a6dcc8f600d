/**
 * The client under test for the official MCP conformance suite's client scenarios
 * (`conformance client --command "…" `; scripts/mcp-conformance.sh runs it). The suite starts a
 * scenario server and runs this with its URL as the last argument and the scenario's name (and
 * context, e.g. pre-registered client credentials) in the environment. It drives Rampart's own
 * client code, the code copilot runs use: McpConnections (Streamable HTTP through the guarded
 * fetch, retries, breaker) and, for the auth scenarios, the per-user connection's OAuth steps
 * (src/mcp/client/oauth.ts: discovery, registration, authorization code with PKCE and resource,
 * the iss check, the code exchange). The suite's authorization servers approve at once, so the
 * browser is a fetch that reads the redirect.
 */
import { randomBytes } from 'node:crypto';
import { McpConnections, type Credentials } from '../src/mcp/client/connection.js';
import {
  authorizationRequest,
  discoverAuthorization,
  redeemCode,
  registerOAuthClient,
  type OAuthClient,
} from '../src/mcp/client/oauth.js';
import { guardedFetch } from '../src/platform/net/guarded-fetch.js';

const REDIRECT_URI = 'http://localhost:3000/callback';
const url = process.argv.at(-1) ?? '';
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as {
  client_id?: string;
  client_secret?: string;
};
// The suite's servers listen on loopback.
const fetch = guardedFetch(true, 10_000);

/** A person's connection, as POST …/connect and the callback make it, in one go. */
async function userToken(): Promise<string> {
  const target = await discoverAuthorization(url, fetch);
  let client: OAuthClient;
  if (context.client_id)
    client = { clientId: context.client_id, clientSecret: context.client_secret };
  else if (target.metadata.registration_endpoint)
    client = await registerOAuthClient(target, REDIRECT_URI, fetch);
  else throw new Error('no client registration offered and no client configured');
  const state = randomBytes(16).toString('base64url');
  const request = await authorizationRequest(target, client, {
    redirectUri: REDIRECT_URI,
    state,
    scope: target.scope,
  });
  const res = await fetch(request.url, { method: 'GET', redirect: 'manual' });
  const location = res.headers.get('location');
  if (!location) throw new Error(`the authorization endpoint answered ${res.status}`);
  const back = new URL(location);
  if (back.searchParams.get('state') !== state) throw new Error('state mismatch');
  const code = back.searchParams.get('code');
  if (!code) throw new Error(`no code: ${back.searchParams.get('error') ?? ''}`);
  const tokens = await redeemCode(
    target,
    client,
    {
      code,
      iss: back.searchParams.get('iss') ?? undefined,
      codeVerifier: request.codeVerifier,
      redirectUri: REDIRECT_URI,
    },
    fetch,
  );
  return tokens.accessToken;
}

async function credentials(): Promise<Credentials> {
  if (scenario === 'auth/client-credentials-basic' && context.client_id && context.client_secret)
    return { kind: 'oauth', clientId: context.client_id, clientSecret: context.client_secret };
  if (scenario.startsWith('auth/'))
    return { kind: 'headers', headers: { authorization: `Bearer ${await userToken()}` } };
  return { kind: 'headers', headers: {} };
}

/** Arguments for a fixture tool from its schema (the suite's add_numbers checks its sum). */
function argsFor(schema: Record<string, unknown>): Record<string, unknown> {
  const props = (schema.properties ?? {}) as Record<string, { type?: string }>;
  const out: Record<string, unknown> = {};
  let n = 2;
  for (const [k, v] of Object.entries(props))
    out[k] = v.type === 'number' || v.type === 'integer' ? n++ : 'x';
  return out;
}

const connections = new McpConnections({
  allowPrivate: true,
  timeoutMs: 10_000,
  breakerThreshold: 100,
  breakerCooldownMs: 1000,
  retries: 2,
  retryBaseMs: 50,
});
const target = { id: scenario, name: 'conformance', url, credentials: await credentials() };
const { tools } = await connections.listTools(target);
for (const tool of tools)
  await connections.callTool(target, tool.name, argsFor(tool.inputSchema), { retrySafe: true });
console.log(`listed ${tools.length} tool(s) and called them`);
