import type { ScimGroupRow, ScimUserRow } from './scim-store.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const MAX_RESULTS = 200;

/** The ETag of a resource version (SCIM meta.version). */
export function etagOf(version: number): string {
  return `W/"${version}"`;
}

export function userResource(r: ScimUserRow, base: string): Record<string, unknown> {
  const name = Object.fromEntries(
    Object.entries(r.scim_name).filter(([, v]) => typeof v === 'string'),
  );
  return {
    schemas: [USER_SCHEMA],
    id: r.id,
    ...(r.scim_external_id !== null ? { externalId: r.scim_external_id } : {}),
    userName: r.email,
    ...(Object.keys(name).length > 0 ? { name } : {}),
    displayName: r.display_name || r.email,
    active: r.active,
    emails: [{ value: r.email, type: 'work', primary: true }],
    meta: {
      resourceType: 'User',
      created: r.created_at.toISOString(),
      lastModified: r.updated_at.toISOString(),
      version: etagOf(r.version),
      location: `${base}/Users/${r.id}`,
    },
  };
}

export function groupResource(
  r: ScimGroupRow,
  members: { user_id: string; email: string }[] | undefined,
  base: string,
): Record<string, unknown> {
  return {
    schemas: [GROUP_SCHEMA],
    id: r.id,
    ...(r.scim_external_id !== null ? { externalId: r.scim_external_id } : {}),
    displayName: r.display_name ?? r.name,
    ...(members
      ? {
          members: members.map((m) => ({
            value: m.user_id,
            display: m.email,
            $ref: `${base}/Users/${m.user_id}`,
          })),
        }
      : {}),
    meta: {
      resourceType: 'Group',
      created: r.created_at.toISOString(),
      lastModified: r.updated_at.toISOString(),
      version: etagOf(r.version),
      location: `${base}/Groups/${r.id}`,
    },
  };
}

export function listResponse(
  resources: Record<string, unknown>[],
  total: number,
  startIndex: number,
): Record<string, unknown> {
  return {
    schemas: [LIST_SCHEMA],
    totalResults: total,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

export function serviceProviderConfig(base: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'The tenant SCIM token from POST /v1/identity/scim-token.',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypes(base: string): Record<string, unknown>[] {
  return [
    ['User', '/Users', USER_SCHEMA],
    ['Group', '/Groups', GROUP_SCHEMA],
  ].map(([id, endpoint, schema]) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id,
    name: id,
    endpoint,
    schema,
    meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/${id}` },
  }));
}

function attr(
  name: string,
  type: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    type,
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...extra,
  };
}

export function schemas(base: string): Record<string, unknown>[] {
  const user = [
    attr('userName', 'string', { required: true, uniqueness: 'server' }),
    attr('externalId', 'string', { caseExact: true }),
    attr('displayName', 'string'),
    attr('active', 'boolean'),
    attr('name', 'complex', {
      subAttributes: ['formatted', 'familyName', 'givenName', 'middleName'].map((n) =>
        attr(n, 'string'),
      ),
    }),
    attr('emails', 'complex', {
      multiValued: true,
      mutability: 'readOnly',
      subAttributes: [attr('value', 'string'), attr('type', 'string'), attr('primary', 'boolean')],
    }),
  ];
  const group = [
    attr('displayName', 'string', { required: true }),
    attr('externalId', 'string', { caseExact: true }),
    attr('members', 'complex', {
      multiValued: true,
      subAttributes: [attr('value', 'string', { caseExact: true }), attr('display', 'string')],
    }),
  ];
  return [
    [USER_SCHEMA, 'User', user],
    [GROUP_SCHEMA, 'Group', group],
  ].map(([id, name, attributes]) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id,
    name,
    attributes,
    meta: { resourceType: 'Schema', location: `${base}/Schemas/${String(id)}` },
  }));
}
