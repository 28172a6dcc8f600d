import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { GroupService } from './groups-service.js';
import {
  CreateGroupBody,
  GroupDetailSchema,
  GroupSchema,
  IdParams,
  PageQuery,
  UserIdParams,
} from './schemas.js';

/** /v1/groups: named sets of members; their names travel in principals. */
export function groupRoutes(groups: GroupService): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/groups',
      auth: 'tenant',
      permission: 'groups:manage',
      summary: 'Create a group.',
      tags: ['identity'],
      body: CreateGroupBody,
      status: 201,
      response: { 201: GroupSchema },
      handler: ({ principal, body, meta }) => groups.create(principal, body.name, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/groups',
      auth: 'tenant',
      permission: 'groups:manage',
      summary: "List the tenant's groups (oldest first).",
      tags: ['identity'],
      query: PageQuery,
      response: {
        200: z.object({ data: z.array(GroupSchema), nextCursor: z.string().nullable() }),
      },
      handler: ({ principal, query }) => groups.list(principal, query),
    }),
    route({
      method: 'GET',
      url: '/v1/groups/:id',
      auth: 'tenant',
      permission: 'groups:manage',
      summary: 'One group with its members.',
      tags: ['identity'],
      params: IdParams,
      response: { 200: GroupDetailSchema },
      handler: ({ principal, params }) => groups.get(principal, params.id),
    }),
    route({
      method: 'DELETE',
      url: '/v1/groups/:id',
      auth: 'tenant',
      permission: 'groups:manage',
      summary: 'Delete a group (its members lose it at once on every instance).',
      tags: ['identity'],
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => groups.delete(principal, params.id, meta),
    }),
    route({
      method: 'PUT',
      url: '/v1/groups/:id/members/:userId',
      auth: 'tenant',
      permission: 'groups:manage',
      summary: 'Add a member to a group (idempotent).',
      tags: ['identity'],
      params: UserIdParams,
      status: 204,
      handler: ({ principal, params, meta }) =>
        groups.addMember(principal, params.id, params.userId, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/groups/:id/members/:userId',
      auth: 'tenant',
      permission: 'groups:manage',
      summary: 'Remove a member from a group.',
      tags: ['identity'],
      params: UserIdParams,
      status: 204,
      handler: ({ principal, params, meta }) =>
        groups.removeMember(principal, params.id, params.userId, meta),
    }),
  ];
}
