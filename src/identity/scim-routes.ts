import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { ScimMeta } from './scim-common.js';
import type { ScimGroups } from './scim-groups.js';
import {
  etagOf,
  listResponse,
  resourceTypes,
  schemas,
  serviceProviderConfig,
} from './scim-resources.js';
import type { ScimTokens } from './scim-token.js';
import type { ScimUsers } from './scim-users.js';

const SCIM = { auth: 'tenant', permission: 'scim:provision', errorShape: 'scim' } as const;
const TAGS = ['scim'];

const Bool = z
  .union([z.boolean(), z.enum(['True', 'False', 'true', 'false'])])
  .transform((v) => v === true || v === 'True' || v === 'true');
const Text = z.string().max(500);

const UserBody = z.looseObject({
  userName: z.string().min(1).max(320),
  externalId: Text.optional(),
  displayName: Text.optional(),
  active: Bool.optional(),
  name: z.record(z.string(), Text.nullable()).optional(),
  emails: z
    .array(z.looseObject({ value: z.string().max(320), primary: Bool.optional() }))
    .max(20)
    .optional(),
});

const GroupBody = z.looseObject({
  displayName: z.string().min(1).max(500),
  externalId: Text.optional(),
  members: z
    .array(z.looseObject({ value: z.string().max(100) }))
    .max(10_000)
    .optional(),
});

const PatchBody = z.looseObject({
  Operations: z
    .array(
      z.looseObject({
        op: z.string().min(1).max(20),
        path: z.string().max(500).optional(),
        value: z.unknown().optional(),
      }),
    )
    .min(1)
    .max(1000),
});

const ListQuery = z.object({
  filter: z.string().max(2000).optional(),
  startIndex: z.coerce.number().int().min(1).max(1_000_000).optional(),
  count: z.coerce.number().int().min(0).max(100_000).optional(),
  attributes: z.string().max(2000).optional(),
  excludedAttributes: z.string().max(2000).optional(),
});
const GetQuery = ListQuery.pick({ attributes: true, excludedAttributes: true });
const Id = z.object({ id: z.string().min(1).max(100) });

function scimMeta(meta: { requestId: string; ip: string }, request: FastifyRequest): ScimMeta {
  const ifMatch = request.headers['if-match'];
  return { ...meta, ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined };
}

/** Sends a SCIM resource with its content type and ETag (and Location when created). */
function sendResource(
  reply: FastifyReply,
  resource: Record<string, unknown>,
  version: number,
  status = 200,
): FastifyReply {
  const meta = resource.meta;
  if (status === 201 && meta && typeof meta === 'object' && 'location' in meta)
    reply.header('location', String(meta.location));
  return reply
    .code(status)
    .type('application/scim+json; charset=utf-8')
    .header('etag', etagOf(version))
    .send(resource);
}

function sendJson(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/scim+json; charset=utf-8').send(body);
}

function excludesMembers(q: { excludedAttributes?: string | undefined }): boolean {
  return (q.excludedAttributes ?? '').split(',').some((a) => a.trim().toLowerCase() === 'members');
}

/** SCIM 2.0 (RFC 7643/7644) for identity providers, and the owner's SCIM token API. */
export function scimRoutes(deps: {
  users: ScimUsers;
  groups: ScimGroups;
  tokens: ScimTokens;
  base: string;
}): AnyRoute[] {
  const { users, groups, tokens, base } = deps;
  const discovery = (url: string, summary: string, body: () => unknown) =>
    route({
      ...SCIM,
      method: 'GET',
      url: `/scim/v2/${url}`,
      summary,
      tags: TAGS,
      handler: ({ reply }) => sendJson(reply, body()),
    });
  return [
    discovery('ServiceProviderConfig', 'SCIM: what this service supports.', () =>
      serviceProviderConfig(base),
    ),
    discovery('ResourceTypes', 'SCIM: the resource types (User, Group).', () => {
      const list = resourceTypes(base);
      return listResponse(list, list.length, 1);
    }),
    discovery('Schemas', 'SCIM: the User and Group schemas.', () => {
      const list = schemas(base);
      return listResponse(list, list.length, 1);
    }),
    route({
      ...SCIM,
      method: 'GET',
      url: '/scim/v2/Users',
      summary: 'SCIM: list users (filter, startIndex, count).',
      tags: TAGS,
      query: ListQuery,
      handler: async ({ principal, query, reply }) =>
        sendJson(reply, await users.list(principal, query)),
    }),
    route({
      ...SCIM,
      method: 'POST',
      url: '/scim/v2/Users',
      summary: 'SCIM: provision a user (a member of the tenant, role member).',
      tags: TAGS,
      body: UserBody,
      handler: async ({ principal, body, meta, reply }) => {
        const row = await users.create(principal, body, meta);
        return sendResource(reply, users.resource(row), row.version, 201);
      },
    }),
    route({
      ...SCIM,
      method: 'GET',
      url: '/scim/v2/Users/:id',
      summary: 'SCIM: one user.',
      tags: TAGS,
      params: Id,
      query: GetQuery,
      handler: async ({ principal, params, reply }) => {
        const row = await users.get(principal, params.id);
        return sendResource(reply, users.resource(row), row.version);
      },
    }),
    route({
      ...SCIM,
      method: 'PUT',
      url: '/scim/v2/Users/:id',
      summary: 'SCIM: replace a user’s attributes (active=false deactivates).',
      tags: TAGS,
      params: Id,
      body: UserBody,
      handler: async ({ principal, params, body, meta, request, reply }) => {
        const row = await users.replace(principal, params.id, body, scimMeta(meta, request));
        return sendResource(reply, users.resource(row), row.version);
      },
    }),
    route({
      ...SCIM,
      method: 'PATCH',
      url: '/scim/v2/Users/:id',
      summary: 'SCIM: patch a user (Okta and Entra ID operation shapes).',
      tags: TAGS,
      params: Id,
      body: PatchBody,
      handler: async ({ principal, params, body, meta, request, reply }) => {
        const row = await users.patch(
          principal,
          params.id,
          body.Operations,
          scimMeta(meta, request),
        );
        return sendResource(reply, users.resource(row), row.version);
      },
    }),
    route({
      ...SCIM,
      method: 'DELETE',
      url: '/scim/v2/Users/:id',
      summary: 'SCIM: deprovision a user (their sessions, tokens and keys end at once).',
      tags: TAGS,
      params: Id,
      status: 204,
      handler: ({ principal, params, meta, request }) =>
        users.delete(principal, params.id, scimMeta(meta, request)),
    }),
    route({
      ...SCIM,
      method: 'GET',
      url: '/scim/v2/Groups',
      summary: 'SCIM: list groups (filter, startIndex, count; excludedAttributes=members).',
      tags: TAGS,
      query: ListQuery,
      handler: async ({ principal, query, reply }) =>
        sendJson(
          reply,
          await groups.list(principal, { ...query, excludeMembers: excludesMembers(query) }),
        ),
    }),
    route({
      ...SCIM,
      method: 'POST',
      url: '/scim/v2/Groups',
      summary: 'SCIM: create a group (its name derived from displayName), with members.',
      tags: TAGS,
      body: GroupBody,
      handler: async ({ principal, body, meta, reply }) => {
        const { row, resource } = await groups.create(principal, body, meta);
        return sendResource(reply, resource, row.version, 201);
      },
    }),
    route({
      ...SCIM,
      method: 'GET',
      url: '/scim/v2/Groups/:id',
      summary: 'SCIM: one group with its members.',
      tags: TAGS,
      params: Id,
      query: GetQuery,
      handler: async ({ principal, params, query, reply }) => {
        const { row, resource } = await groups.get(principal, params.id, excludesMembers(query));
        return sendResource(reply, resource, row.version);
      },
    }),
    route({
      ...SCIM,
      method: 'PUT',
      url: '/scim/v2/Groups/:id',
      summary: 'SCIM: replace a group’s display name and members.',
      tags: TAGS,
      params: Id,
      body: GroupBody,
      handler: async ({ principal, params, body, meta, request, reply }) => {
        const { row, resource } = await groups.replace(
          principal,
          params.id,
          body,
          scimMeta(meta, request),
        );
        return sendResource(reply, resource, row.version);
      },
    }),
    route({
      ...SCIM,
      method: 'PATCH',
      url: '/scim/v2/Groups/:id',
      summary: 'SCIM: patch a group (members add/remove/replace, displayName).',
      tags: TAGS,
      params: Id,
      body: PatchBody,
      handler: async ({ principal, params, body, meta, request, reply }) => {
        const { row, resource } = await groups.patch(
          principal,
          params.id,
          body.Operations,
          scimMeta(meta, request),
        );
        return sendResource(reply, resource, row.version);
      },
    }),
    route({
      ...SCIM,
      method: 'DELETE',
      url: '/scim/v2/Groups/:id',
      summary: 'SCIM: delete a group (taken out of keys and documents too).',
      tags: TAGS,
      params: Id,
      status: 204,
      handler: ({ principal, params, meta, request }) =>
        groups.delete(principal, params.id, scimMeta(meta, request)),
    }),
    route({
      method: 'POST',
      url: '/v1/identity/scim-token',
      auth: 'tenant',
      permission: 'identity:manage',
      summary:
        'Create (or rotate) the tenant’s SCIM bearer token; shown once, the previous one stops working.',
      tags: ['identity'],
      status: 201,
      handler: ({ principal, meta }) => tokens.rotate(principal, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/identity/scim-token',
      auth: 'tenant',
      permission: 'identity:manage',
      summary: 'The SCIM token’s prefix and creation (never the token).',
      tags: ['identity'],
      handler: ({ principal }) => tokens.get(principal),
    }),
    route({
      method: 'DELETE',
      url: '/v1/identity/scim-token',
      auth: 'tenant',
      permission: 'identity:manage',
      summary: 'Delete the SCIM token: SCIM provisioning stops.',
      tags: ['identity'],
      status: 204,
      handler: ({ principal, meta }) => tokens.remove(principal, meta),
    }),
  ];
}
