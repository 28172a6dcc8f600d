import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { LocalAccountService } from './local-service.js';
import { CreateUserBody, Email } from './schemas.js';

const InvitationSchema = z.object({
  id: z.string(),
  email: z.string(),
  role: z.string(),
  expiresAt: z.string(),
  token: z.string(),
  acceptUrl: z.string(),
});
const Settings = z.strictObject({ localAccountsEnabled: z.boolean() });
// Passwords are compared as given: no trimming, any character (OWASP ASVS).
const Password = z.string().min(1).max(1024);

/** Invitations, password sign-in, TOTP enrolment and the tenant's switch for local accounts. */
export function localRoutes(local: LocalAccountService): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/users/invitations',
      auth: 'tenant',
      permission: 'users:manage',
      summary:
        'Invite a person by e-mail: a one-time token (shown once, 72 h) with which they set a password.',
      tags: ['identity'],
      body: CreateUserBody,
      status: 201,
      response: { 201: InvitationSchema },
      handler: ({ principal, body, meta }) => local.invite(principal, body, meta),
    }),
    route({
      method: 'POST',
      url: '/auth/invitations/accept',
      auth: 'none',
      permission: undefined,
      summary:
        'Accept an invitation: set a password (at least 12 characters, not a common one) and become a member.',
      tags: ['auth'],
      body: z.strictObject({ token: z.string().min(1).max(200), password: Password }),
      status: 201,
      response: {
        201: z.object({ tenant: z.string(), userId: z.string(), email: z.string() }),
      },
      handler: ({ body, meta }) => local.accept(body, meta),
    }),
    route({
      method: 'POST',
      url: '/auth/:tenantSlug/password',
      auth: 'none',
      permission: undefined,
      summary:
        'Sign in with e-mail and password (and a TOTP or recovery code once enrolled); starts a session (cookie).',
      tags: ['auth'],
      params: z.object({ tenantSlug: z.string().min(1).max(63) }),
      body: z.strictObject({
        email: Email,
        password: Password,
        code: z.string().min(1).max(40).optional(),
      }),
      response: { 200: z.object({ userId: z.string() }) },
      handler: ({ params, body, request, reply, meta }) =>
        local.signIn(params.tenantSlug, body, request, reply, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/me/totp',
      auth: 'tenant',
      permission: 'tenant:read',
      summary:
        'Start TOTP enrolment for the signed-in person: a secret and otpauth:// URI for an authenticator app.',
      tags: ['identity'],
      response: { 200: z.object({ secret: z.string(), uri: z.string() }) },
      handler: ({ principal }) => local.startTotp(principal),
    }),
    route({
      method: 'POST',
      url: '/v1/me/totp/confirm',
      auth: 'tenant',
      permission: 'tenant:read',
      summary: 'Confirm TOTP with a current code; returns ten recovery codes, shown once.',
      tags: ['identity'],
      body: z.strictObject({ code: z.string().min(6).max(10) }),
      response: { 200: z.object({ recoveryCodes: z.array(z.string()) }) },
      handler: ({ principal, body, meta }) => local.confirmTotp(principal, body.code, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/identity/settings',
      auth: 'tenant',
      permission: 'identity:manage',
      summary: 'Whether local accounts (invitations and passwords) are enabled for this tenant.',
      tags: ['identity'],
      response: { 200: Settings },
      handler: ({ principal }) => local.settings(principal),
    }),
    route({
      method: 'PUT',
      url: '/v1/identity/settings',
      auth: 'tenant',
      permission: 'identity:manage',
      summary: 'Enable or disable local accounts (disabling needs OpenID Connect configured).',
      tags: ['identity'],
      body: Settings,
      response: { 200: Settings },
      handler: ({ principal, body, meta }) => local.setSettings(principal, body, meta),
    }),
  ];
}
