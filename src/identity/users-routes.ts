import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import { CreateUserBody, IdParams, PageQuery, PatchUserBody, UserSchema } from './schemas.js';
import type { UserService } from './users-service.js';

/** /v1/users: the tenant's members and their roles. */
export function userRoutes(users: UserService): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/users',
      auth: 'tenant',
      permission: 'users:manage',
      summary: 'Add a user (found or created by e-mail) to this tenant with a role.',
      tags: ['identity'],
      body: CreateUserBody,
      status: 201,
      response: { 201: UserSchema },
      handler: ({ principal, body, meta }) => users.add(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/users',
      auth: 'tenant',
      permission: 'users:manage',
      summary: "List the tenant's members (oldest first).",
      tags: ['identity'],
      query: PageQuery,
      response: {
        200: z.object({ data: z.array(UserSchema), nextCursor: z.string().nullable() }),
      },
      handler: ({ principal, query }) => users.list(principal, query),
    }),
    route({
      method: 'GET',
      url: '/v1/users/:id',
      auth: 'tenant',
      permission: 'users:manage',
      summary: 'One member, with role and groups.',
      tags: ['identity'],
      params: IdParams,
      response: { 200: UserSchema },
      handler: ({ principal, params }) => users.get(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/users/:id',
      auth: 'tenant',
      permission: 'users:manage',
      summary: "Change a member's role (their keys are lowered to it if above).",
      tags: ['identity'],
      params: IdParams,
      body: PatchUserBody,
      response: { 200: UserSchema },
      handler: ({ principal, params, body, meta }) =>
        users.changeRole(principal, params.id, body.role, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/users/:id',
      auth: 'tenant',
      permission: 'users:manage',
      summary: 'Remove a member from this tenant (revokes their keys here).',
      tags: ['identity'],
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => users.remove(principal, params.id, meta),
    }),
  ];
}
