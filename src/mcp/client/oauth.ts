import {
  checkResourceAllowed,
  discoverOAuthServerInfo,
  exchangeAuthorization,
  extractWWWAuthenticateParams,
  refreshAuthorization,
  registerClient,
  resourceUrlFromServerUrl,
  startAuthorization,
  validateAuthorizationResponseIssuer,
  type AuthorizationServerMetadata,
  type FetchLike,
  type OAuthTokens,
} from '@modelcontextprotocol/client';
import { AppError, UpstreamFailed } from '../../platform/http/errors.js';
import { messageOf } from '../../platform/checked.js';
import type { GuardedFetch } from '../../platform/net/guarded-fetch.js';
import { guardedInit } from './connection.js';

/**
 * The OAuth steps of a per-user connection (the MCP authorization spec, client side), on the SDK's
 * own functions: RFC 9728 protected-resource metadata → RFC 8414 authorization-server metadata,
 * RFC 7591 registration when offered, authorization code with PKCE S256 and the RFC 8707
 * `resource`, the RFC 9207 `iss` check on the way back, and refresh. Pure: no database; the
 * caller stores what these return. Every request goes through the guarded fetch it is given.
 */

/** What discovery found out about a server's authorization. */
export interface AuthorizationTarget {
  metadata: AuthorizationServerMetadata;
  /** The RFC 8707 resource the tokens are asked for (the protected-resource metadata's). */
  resource: string;
  /** The scope to ask for when the tenant set none: the 401's, else the resource's list. */
  scope: string | undefined;
}

export interface OAuthClient {
  clientId: string;
  clientSecret?: string | undefined;
}

export interface Tokens {
  accessToken: string;
  refreshToken?: string | undefined;
  /** Seconds, when the authorization server said. */
  expiresIn?: number | undefined;
  scope?: string | undefined;
}

/** The SDK's fetch seam over the guarded fetch (redirects never followed). */
export function sdkFetch(fetch: GuardedFetch): FetchLike {
  return (url, init) => fetch(String(url), guardedInit(init));
}

function failed(what: string, err: unknown, code = 'mcp_oauth_failed'): UpstreamFailed {
  return new UpstreamFailed(`${what}: ${messageOf(err).slice(0, 500)}`, 502, code);
}

/**
 * Finds the server's authorization server. An unauthenticated request first: a server that wants
 * a token answers 401 with `WWW-Authenticate` naming its metadata and scope (RFC 9728 §5.1).
 */
export async function discoverAuthorization(
  serverUrl: string,
  fetch: GuardedFetch,
): Promise<AuthorizationTarget> {
  let challenge: ReturnType<typeof extractWWWAuthenticateParams> = {};
  try {
    const res = await fetch(serverUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    });
    await res.body?.cancel();
    if (res.status === 401) challenge = extractWWWAuthenticateParams(res);
  } catch {
    // Discovery below says what is wrong if the server cannot be reached at all.
  }
  let info;
  try {
    info = await discoverOAuthServerInfo(serverUrl, {
      ...(challenge.resourceMetadataUrl
        ? { resourceMetadataUrl: challenge.resourceMetadataUrl }
        : {}),
      fetchFn: sdkFetch(fetch),
    });
  } catch (err) {
    throw failed('OAuth discovery failed', err, 'mcp_oauth_discovery_failed');
  }
  const metadata = info.authorizationServerMetadata;
  if (!metadata)
    throw new UpstreamFailed(
      `No OAuth authorization server metadata was found for ${serverUrl}.`,
      502,
      'mcp_oauth_discovery_failed',
    );
  // OAuth 2.1 / MCP: PKCE with S256, and a client refuses to go on without it.
  if (!metadata.code_challenge_methods_supported?.includes('S256'))
    throw new UpstreamFailed(
      `The authorization server ${metadata.issuer} does not advertise PKCE S256.`,
      502,
      'mcp_oauth_pkce_unsupported',
    );
  let resource = resourceUrlFromServerUrl(serverUrl).href;
  const prm = info.resourceMetadata;
  if (prm) {
    // The metadata must describe this server, or a server could have tokens minted for another.
    if (!checkResourceAllowed({ requestedResource: serverUrl, configuredResource: prm.resource }))
      throw new UpstreamFailed(
        `The protected-resource metadata is for ${prm.resource}, not ${serverUrl}.`,
        502,
        'mcp_oauth_resource_mismatch',
      );
    resource = prm.resource;
  }
  return {
    metadata,
    resource,
    scope: challenge.scope ?? prm?.scopes_supported?.join(' ') ?? undefined,
  };
}

/** RFC 7591 registration of Rampart as a confidential web client, when the server offers it. */
export async function registerOAuthClient(
  target: AuthorizationTarget,
  redirectUri: string,
  fetch: GuardedFetch,
): Promise<OAuthClient> {
  try {
    const info = await registerClient(target.metadata.issuer, {
      metadata: target.metadata,
      clientMetadata: {
        client_name: 'Rampart',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      fetchFn: sdkFetch(fetch),
    });
    return { clientId: info.client_id, clientSecret: info.client_secret };
  } catch (err) {
    throw failed('Dynamic client registration failed', err, 'mcp_oauth_registration_failed');
  }
}

/** The authorization URL to send the person to, and the PKCE verifier to keep for the callback. */
export async function authorizationRequest(
  target: AuthorizationTarget,
  client: OAuthClient,
  opts: { redirectUri: string; state: string; scope: string | undefined },
): Promise<{ url: string; codeVerifier: string }> {
  const { authorizationUrl, codeVerifier } = await startAuthorization(target.metadata.issuer, {
    metadata: target.metadata,
    clientInformation: clientInformation(client),
    redirectUrl: opts.redirectUri,
    state: opts.state,
    resource: target.resource,
    ...(opts.scope ? { scope: opts.scope } : {}),
  });
  return { url: authorizationUrl.href, codeVerifier };
}

/**
 * Redeems the code. `iss` is checked first (RFC 9207): a response from another authorization
 * server than the one this flow started at (a mix-up attack) is refused before the code is sent.
 */
export async function redeemCode(
  target: Pick<AuthorizationTarget, 'metadata' | 'resource'>,
  client: OAuthClient,
  opts: { code: string; iss: string | undefined; codeVerifier: string; redirectUri: string },
  fetch: GuardedFetch,
): Promise<Tokens> {
  try {
    validateAuthorizationResponseIssuer({
      iss: opts.iss,
      expectedIssuer: target.metadata.issuer,
      issParameterSupported:
        target.metadata.authorization_response_iss_parameter_supported === true,
    });
  } catch {
    throw new AppError(
      400,
      'mcp_oauth_issuer_mismatch',
      `The authorization response did not come from ${target.metadata.issuer} (iss ${opts.iss ?? 'missing'}); it is refused.`,
    );
  }
  try {
    return tokensOf(
      await exchangeAuthorization(target.metadata.issuer, {
        metadata: target.metadata,
        clientInformation: clientInformation(client),
        authorizationCode: opts.code,
        iss: opts.iss,
        codeVerifier: opts.codeVerifier,
        redirectUri: opts.redirectUri,
        resource: target.resource,
        fetchFn: sdkFetch(fetch),
      }),
    );
  } catch (err) {
    throw failed('The authorization code was not accepted', err, 'mcp_oauth_exchange_failed');
  }
}

/** New tokens for a refresh token (the old refresh token kept when the server sends none). */
export async function refreshTokens(
  target: Pick<AuthorizationTarget, 'metadata' | 'resource'>,
  client: OAuthClient,
  refreshToken: string,
  fetch: GuardedFetch,
): Promise<Tokens> {
  try {
    return tokensOf(
      await refreshAuthorization(target.metadata.issuer, {
        metadata: target.metadata,
        clientInformation: clientInformation(client),
        refreshToken,
        resource: target.resource,
        fetchFn: sdkFetch(fetch),
      }),
    );
  } catch (err) {
    throw failed('The token could not be refreshed', err, 'mcp_oauth_refresh_failed');
  }
}

function clientInformation(c: OAuthClient): { client_id: string; client_secret?: string } {
  return { client_id: c.clientId, ...(c.clientSecret ? { client_secret: c.clientSecret } : {}) };
}

function tokensOf(t: OAuthTokens): Tokens {
  return {
    accessToken: t.access_token,
    refreshToken: t.refresh_token,
    expiresIn: typeof t.expires_in === 'number' ? t.expires_in : undefined,
    scope: t.scope,
  };
}
