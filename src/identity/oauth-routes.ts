import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, Forbidden } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import { requestMeta } from '../platform/http/route.js';
import { rejectUnstorableInput } from '../platform/http/safe-string.js';
import { AUTH_METHODS, OAuthError, type OAuthClients } from './oauth-clients.js';
import { sendConsentPage } from './oauth-pages.js';
import { OAUTH_SCOPE, type OAuthServer, type RedirectedError } from './oauth-service.js';
import { csrfTokenFor, sameSecret } from './session-cookies.js';
import type { SessionVerifier } from './session-verifier.js';

export const AS_METADATA_PATH = '/.well-known/oauth-authorization-server';
const FORM = 'application/x-www-form-urlencoded';

export interface OAuthRoutesDeps {
  server: OAuthServer;
  clients: OAuthClients;
  sessions: SessionVerifier;
  serverSecret: string;
  /** Rampart's own origin: the consent form must be posted from it. */
  publicOrigin: string;
  tenantDisabled(tenantId: string): boolean;
}

/** RFC 8414 metadata of Rampart's authorization server. */
export function authorizationServerMetadata(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    registration_endpoint: `${issuer}/oauth/register`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: [...AUTH_METHODS],
    revocation_endpoint_auth_methods_supported: [...AUTH_METHODS],
    scopes_supported: [OAUTH_SCOPE],
    authorization_response_iss_parameter_supported: true,
    service_documentation: `${issuer}/docs`,
  };
}

/** The form fields of a urlencoded body (a repeated parameter is refused, RFC 6749 §3.1). */
function parseForm(text: string): Record<string, string> {
  const seen = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(text)) {
    if (seen.has(k)) throw new OAuthError('invalid_request', `The parameter ${k} is repeated.`);
    seen.set(k, v);
  }
  return Object.fromEntries(seen);
}

function formOf(request: FastifyRequest): Record<string, string> {
  const type = request.headers['content-type'] ?? '';
  const body: unknown = request.body;
  if (!type.toLowerCase().startsWith(FORM) || typeof body !== 'object' || body === null)
    throw new OAuthError('invalid_request', `The body must be ${FORM}.`);
  return Object.fromEntries(
    Object.entries(body).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

function redirectWith(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

/**
 * Rampart's OAuth 2.1 authorization server for its MCP resource (decision 026): metadata,
 * registration, authorization with consent, token and revocation. Registered on Fastify directly,
 * in a scope of their own: the endpoints speak OAuth's form bodies and error JSON, and only this
 * scope parses urlencoded forms (no other route accepts a body a cross-site form can send).
 */
export async function registerOAuthRoutes(app: FastifyInstance, d: OAuthRoutesDeps): Promise<void> {
  const { server } = d;
  const issuer = server.issuer;
  const errorRedirect = (e: RedirectedError): string =>
    redirectWith(e.redirectUri, {
      error: e.error,
      error_description: e.description,
      state: e.state,
      iss: issuer,
    });
  /** The signed-in person of the request's session cookie, with that cookie. */
  const session = async (
    request: FastifyRequest,
  ): Promise<{ principal: Principal; token: string } | undefined> => {
    const token = d.sessions.tokenOf(request);
    if (token === undefined) return undefined;
    const verdict = await d.sessions.verify(token);
    if ('refused' in verdict || !verdict.principal.userId) return undefined;
    if (d.tenantDisabled(verdict.principal.tenantId))
      throw new Forbidden('The tenant is disabled.', 'tenant_disabled');
    return { principal: verdict.principal, token };
  };

  app.get(AS_METADATA_PATH, { schema: { hide: true } }, (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return authorizationServerMetadata(issuer);
  });

  await app.register(async (scope) => {
    scope.addContentTypeParser(
      FORM,
      { parseAs: 'string', bodyLimit: 16 * 1024 },
      (_request, body, done) => {
        try {
          done(null, parseForm(typeof body === 'string' ? body : body.toString('utf8')));
        } catch (err) {
          done(err as Error, undefined);
        }
      },
    );
    scope.addHook('preValidation', async (request) => rejectUnstorableInput(request));
    const oauthErrors = { errorShape: 'oauth' as const };

    scope.post(
      '/oauth/register',
      { schema: { hide: true }, config: oauthErrors, bodyLimit: 16 * 1024 },
      async (request, reply) => {
        const registered = await d.clients.register(request.body, requestMeta(request));
        return reply.code(201).header('cache-control', 'no-store').send(registered);
      },
    );

    scope.get('/oauth/authorize', { schema: { hide: true } }, async (request, reply) => {
      const query: unknown = request.query;
      const req = await server.validate(
        typeof query === 'object' && query !== null ? { ...query } : {},
      );
      if ('error' in req) return reply.redirect(errorRedirect(req), 302);
      const signedIn = await session(request);
      // No session: the console's sign-in, which returns to this very request afterwards. The
      // path is this request's own (same origin); the console accepts only known paths anyway.
      if (!signedIn)
        return reply
          .header('cache-control', 'no-store')
          .redirect(`/?next=${encodeURIComponent(request.url)}`, 302);
      return sendConsentPage(reply, {
        clientName: req.client.client_name,
        clientId: req.client.id,
        redirectUri: req.redirectUri,
        tenantSlug: signedIn.principal.tenantSlug,
        person: await server.personOf(signedIn.principal),
        resource: req.resource,
        fields: {
          client_id: req.client.id,
          redirect_uri: req.redirectUri,
          response_type: 'code',
          code_challenge: req.codeChallenge,
          code_challenge_method: 'S256',
          resource: req.resource,
          scope: req.scope,
          ...(req.state === undefined ? {} : { state: req.state }),
        },
        csrf: csrfTokenFor(d.serverSecret, signedIn.token),
      });
    });

    scope.post('/oauth/authorize', { schema: { hide: true } }, async (request, reply) =>
      decide(request, reply),
    );

    scope.post(
      '/oauth/token',
      { schema: { hide: true }, config: oauthErrors },
      async (request, reply) => {
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        return server.token(request.headers.authorization, formOf(request), requestMeta(request));
      },
    );

    scope.post(
      '/oauth/revoke',
      { schema: { hide: true }, config: oauthErrors },
      async (request, reply) => {
        await server.revoke(request.headers.authorization, formOf(request), requestMeta(request));
        return reply.code(200).header('cache-control', 'no-store').send();
      },
    );
  });

  /** The consent form's answer: same session, same origin, its CSRF token, then the request again. */
  async function decide(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const signedIn = await session(request);
    if (!signedIn)
      throw new AppError(401, 'session_required', 'Sign in to Rampart, then authorize again.');
    const origin = request.headers.origin;
    const { csrf, decision, ...params } = formOf(request);
    if (
      (origin !== undefined && origin !== d.publicOrigin) ||
      csrf === undefined ||
      !sameSecret(csrf, csrfTokenFor(d.serverSecret, signedIn.token))
    )
      throw new Forbidden(
        'The consent form must be sent from Rampart’s own page (CSRF check failed).',
        'csrf_rejected',
      );
    const req = await server.validate(params);
    if ('error' in req) return reply.redirect(errorRedirect(req), 303);
    const meta = requestMeta(request, reply);
    if (decision === 'approve') {
      const code = await server.approve(signedIn.principal, req, meta);
      return reply
        .header('cache-control', 'no-store')
        .redirect(redirectWith(req.redirectUri, { code, state: req.state, iss: issuer }), 303);
    }
    if (decision !== 'deny')
      throw new AppError(400, 'invalid_request', 'decision is approve or deny.');
    await server.deny(signedIn.principal, req, meta);
    return reply.redirect(
      errorRedirect({
        redirectUri: req.redirectUri,
        error: 'access_denied',
        description: 'The person denied the request.',
        state: req.state,
      }),
      303,
    );
  }
}
