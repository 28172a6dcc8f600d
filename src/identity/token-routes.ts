import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { SigningKeys } from './signing-keys.js';
import type { TokenGrants } from './token-grants.js';

const Audience = z.string().min(1).max(500);

const TokenBody = z.discriminatedUnion('grant_type', [
  z
    .object({
      grant_type: z.literal('session'),
      audience: Audience.optional(),
      resource: Audience.optional(),
    })
    .strict(),
  z
    .object({
      grant_type: z.literal('refresh_token'),
      refresh_token: z.string().min(1).max(200),
    })
    .strict(),
]);

const TokenSchema = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number(),
  refresh_token: z.string(),
  audience: z.string(),
});

const JwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

/** Tokens for apps: the token endpoint and the public keys that verify its access tokens. */
export function tokenRoutes(grants: TokenGrants, keys: SigningKeys): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/auth/token',
      auth: 'none',
      permission: undefined,
      summary:
        'Exchange the signed-in session (grant_type=session, with its cookie and X-CSRF-Token) or a refresh token (grant_type=refresh_token) for an access token (JWT, ES256) and a new refresh token.',
      tags: ['auth'],
      body: TokenBody,
      response: { 200: TokenSchema },
      handler: async ({ body, request, reply, meta }) => {
        reply.header('cache-control', 'no-store');
        return body.grant_type === 'session'
          ? grants.fromSession(request, { audience: body.resource ?? body.audience }, meta)
          : grants.refresh(body.refresh_token, meta);
      },
    }),
    route({
      method: 'GET',
      url: '/.well-known/jwks.json',
      auth: 'none',
      permission: undefined,
      summary: 'The public keys (JWKS) that verify Rampart access tokens; rotated with overlap.',
      tags: ['auth'],
      response: { 200: JwksSchema },
      handler: async ({ reply }) => {
        reply.header('cache-control', 'public, max-age=300');
        return keys.jwks();
      },
    }),
  ];
}
