/**
 * The permission catalog and the roles that grant them: the one file that says who may do
 * what. Routes and tools declare a permission from this list; nothing checks roles directly.
 */
export const PERMISSIONS = [
  'tenant:read',
  'keys:manage',
  'users:manage',
  'groups:manage',
  'audit:read',
  'documents:read',
  'documents:write',
  'documents:delete',
  // See every document's metadata and status, and delete any; content of restricted documents
  // only when the tenant sets adminsReadRestricted (enforced by RLS, migration 0010).
  'documents:manage',
  'gateway:invoke',
  'gateway:manage',
  'usage:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

const VIEWER: Permission[] = ['tenant:read', 'documents:read', 'usage:read'];
const MEMBER: Permission[] = [...VIEWER, 'documents:write', 'gateway:invoke'];
const ADMIN: Permission[] = [
  ...MEMBER,
  'documents:delete',
  'documents:manage',
  'keys:manage',
  'users:manage',
  'groups:manage',
  'audit:read',
  'gateway:manage',
];
const OWNER: Permission[] = [...ADMIN];

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set(OWNER),
  admin: new Set(ADMIN),
  member: new Set(MEMBER),
  viewer: new Set(VIEWER),
};

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

/** True when `granted` is not above `granter`: nobody hands out more than they hold. */
export function mayGrant(granter: Role, granted: Role): boolean {
  return RANK[granted] <= RANK[granter];
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** The roles `role` may grant: itself and everything below it. */
export function rolesUpTo(role: Role): Role[] {
  return ROLES.filter((r) => mayGrant(role, r));
}
