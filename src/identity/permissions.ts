/**
 * The roles and the permissions each grants: the one file that says who may do what. Routes
 * and tools declare a permission from the catalogue; nothing checks roles directly.
 */
import type { Permission } from '../platform/http/permissions-catalogue.js';

// The catalogue itself lives beside the route declaration, which types `permission` with it.
export {
  PERMISSIONS,
  isPermission,
  type Permission,
} from '../platform/http/permissions-catalogue.js';

export const ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

const VIEWER: Permission[] = [
  'tenant:read',
  'documents:read',
  'usage:read',
  'evals:read',
  'subjects:export',
];
const MEMBER: Permission[] = [
  ...VIEWER,
  'documents:write',
  'gateway:invoke',
  'agents:run',
  'sql:query',
  'evals:run',
];
const ADMIN: Permission[] = [
  ...MEMBER,
  'documents:delete',
  'documents:manage',
  'keys:manage',
  'users:manage',
  'groups:manage',
  'knowledge:manage',
  'audit:read',
  'gateway:manage',
  'agents:manage',
  'agents:approve',
  'sql:manage',
  'webhooks:manage',
];
const OWNER: Permission[] = [...ADMIN, 'identity:manage', 'governance:manage', 'subjects:erase'];

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
