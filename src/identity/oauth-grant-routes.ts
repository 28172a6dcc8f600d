import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { OAuthGrants } from './oauth-grants.js';
import { IdParams } from './schemas.js';

const OAuthGrantSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  clientName: z.string().nullable(),
  redirectHosts: z.array(z.string()),
  grantedAt: z.string(),
  lastRefreshedAt: z.string().nullable(),
  expiresAt: z.string(),
});

/** The caller's own connected applications (OAuth grants made at the consent page). */
export function oauthGrantRoutes(grants: OAuthGrants): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/me/oauth-grants',
      auth: 'tenant',
      permission: 'tenant:read',
      summary:
        'The applications the caller allowed to use Rampart as them (live OAuth grants, newest first).',
      tags: ['identity'],
      response: { 200: z.object({ data: z.array(OAuthGrantSchema) }) },
      handler: async ({ principal }) => ({ data: await grants.listOwn(principal) }),
    }),
    route({
      method: 'DELETE',
      url: '/v1/me/oauth-grants/:id',
      auth: 'tenant',
      permission: 'tenant:read',
      summary:
        "Revoke one of the caller's own OAuth grants: the application's access and refresh tokens stop working.",
      tags: ['identity'],
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => grants.revokeOwn(principal, params.id, meta),
    }),
  ];
}
