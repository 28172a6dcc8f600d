import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import { JWT_ALGORITHMS } from './jwt-bearer.js';
import type { JwtTrustService } from './jwt-service.js';
import type { OidcService } from './oidc-service.js';
import { IdParams } from './schemas.js';
import type { SessionService } from './sessions-service.js';

const MappedRole = z.enum(['admin', 'member', 'viewer']);
const Scope = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/, 'an OAuth scope token');
const Domain = z
  .string()
  .max(253)
  .regex(
    /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'a lower-case domain name',
  );

export const OidcConfigBody = z
  .object({
    issuer: z.string().url().max(2000),
    clientId: z.string().min(1).max(500),
    clientSecret: z.string().min(1).max(4000),
    scopes: z
      .array(Scope)
      .min(1)
      .max(30)
      .refine((s) => s.includes('openid'), 'must include openid')
      .default(['openid', 'email', 'profile']),
    groupsClaim: z.string().min(1).max(200).default('groups'),
    roleMapping: z
      .record(z.string().min(1).max(200), MappedRole)
      .refine((m) => Object.keys(m).length <= 200, 'at most 200 entries')
      .default({}),
    defaultRole: MappedRole.default('member'),
    allowedEmailDomains: z.array(Domain).max(100).default([]),
  })
  .strict();

const OidcConfigSchema = z.object({
  issuer: z.string(),
  clientId: z.string(),
  clientSecretSet: z.literal(true),
  scopes: z.array(z.string()),
  groupsClaim: z.string(),
  roleMapping: z.record(z.string(), MappedRole),
  defaultRole: MappedRole,
  allowedEmailDomains: z.array(z.string()),
  redirectUri: z.string(),
  loginUrl: z.string(),
  updatedAt: z.string(),
});

const JwtTrustBody = z
  .object({
    issuer: z.string().url().max(2000),
    audience: z.string().min(1).max(500),
    jwksUri: z.string().url().max(2000).optional(),
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).max(10).default(['RS256', 'ES256']),
    subjectClaim: z.string().min(1).max(200).default('sub'),
  })
  .strict();

const JwtTrustSchema = z.object({
  issuer: z.string(),
  audience: z.string(),
  jwksUri: z.string(),
  algorithms: z.array(z.string()),
  subjectClaim: z.string(),
  updatedAt: z.string(),
});

const SessionSchema = z.object({
  id: z.string(),
  method: z.string(),
  createdAt: z.string(),
  lastSeenAt: z.string(),
  expiresAt: z.string(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  current: z.boolean(),
});

/** Sign-in with the tenant's identity provider, and sessions. */
export function signinRoutes(
  oidc: OidcService,
  sessions: SessionService,
  jwt: JwtTrustService,
): AnyRoute[] {
  return [
    route({
      method: 'PUT',
      url: '/v1/identity/jwt',
      auth: 'tenant',
      permission: 'identity:manage',
      summary:
        "Trust the identity provider's access tokens as bearer credentials (issuer, audience, algorithms).",
      tags: ['identity'],
      body: JwtTrustBody,
      response: { 200: JwtTrustSchema },
      handler: ({ principal, body, meta }) => jwt.put(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/identity/jwt',
      auth: 'tenant',
      permission: 'identity:manage',
      summary: "The tenant's trusted JWT issuer.",
      tags: ['identity'],
      response: { 200: JwtTrustSchema },
      handler: ({ principal }) => jwt.get(principal),
    }),
    route({
      method: 'DELETE',
      url: '/v1/identity/jwt',
      auth: 'tenant',
      permission: 'identity:manage',
      summary: 'Stop accepting the identity provider’s access tokens.',
      tags: ['identity'],
      status: 204,
      handler: ({ principal, meta }) => jwt.remove(principal, meta),
    }),
    route({
      method: 'PUT',
      url: '/v1/identity/oidc',
      auth: 'tenant',
      permission: 'identity:manage',
      summary:
        "Connect the tenant's OpenID Connect provider (discovered now; the client secret is encrypted and never returned).",
      tags: ['identity'],
      body: OidcConfigBody,
      response: { 200: OidcConfigSchema },
      handler: ({ principal, body, meta }) => oidc.put(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/identity/oidc',
      auth: 'tenant',
      permission: 'identity:manage',
      summary: "The tenant's OpenID Connect settings (never the client secret).",
      tags: ['identity'],
      response: { 200: OidcConfigSchema },
      handler: ({ principal }) => oidc.get(principal),
    }),
    route({
      method: 'DELETE',
      url: '/v1/identity/oidc',
      auth: 'tenant',
      permission: 'identity:manage',
      summary:
        'Disconnect the OpenID Connect provider (existing sessions continue until they end).',
      tags: ['identity'],
      status: 204,
      handler: ({ principal, meta }) => oidc.remove(principal, meta),
    }),
    route({
      method: 'GET',
      url: '/auth/:tenantSlug/login',
      auth: 'none',
      permission: undefined,
      summary:
        "Start signing in with the tenant's identity provider: redirects there (PKCE S256, state, nonce).",
      tags: ['auth'],
      params: z.object({ tenantSlug: z.string().min(1).max(63) }),
      handler: async ({ params, reply }) =>
        reply.redirect(await oidc.loginUrl(params.tenantSlug, reply), 302),
    }),
    route({
      method: 'GET',
      url: '/auth/callback',
      auth: 'none',
      permission: undefined,
      summary:
        'The identity provider returns here: the code is exchanged and checked, the member provisioned, a session started (cookie).',
      tags: ['auth'],
      handler: async ({ request, reply, meta }) =>
        reply.redirect(await oidc.callback(request, reply, meta), 303),
    }),
    route({
      method: 'POST',
      url: '/auth/logout',
      auth: 'none',
      permission: undefined,
      summary:
        "Sign out: ends the cookie's session and redirects to the identity provider's sign-out (RP-initiated logout).",
      tags: ['auth'],
      handler: async ({ request, reply, meta }) => {
        const ended = await sessions.signOut(request, reply, meta);
        return reply.redirect(await oidc.endSessionUrl(ended), 303);
      },
    }),
    route({
      method: 'GET',
      url: '/v1/sessions',
      auth: 'tenant',
      permission: 'tenant:read',
      summary: "The caller's own live sessions (newest first).",
      tags: ['identity'],
      response: { 200: z.object({ data: z.array(SessionSchema) }) },
      handler: async ({ principal }) => ({ data: await sessions.listOwn(principal) }),
    }),
    route({
      method: 'DELETE',
      url: '/v1/sessions/:id',
      auth: 'tenant',
      permission: 'tenant:read',
      summary: "End one of the caller's own sessions (on every instance within seconds).",
      tags: ['identity'],
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => sessions.revokeOwn(principal, params.id, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/users/:id/sessions',
      auth: 'tenant',
      permission: 'users:manage',
      summary: 'End every session of a member (on every instance within seconds).',
      tags: ['identity'],
      params: IdParams,
      response: { 200: z.object({ revoked: z.number().int() }) },
      handler: async ({ principal, params, meta }) => ({
        revoked: await sessions.revokeUser(principal, params.id, meta),
      }),
    }),
  ];
}
