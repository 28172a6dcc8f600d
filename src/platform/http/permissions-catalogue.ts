/**
 * The permission catalogue: every permission a route or a policy may require. It lives in
 * platform/ so the route declaration (route.ts) can type `permission` with it and a typo does
 * not compile; which roles grant which permissions stays in identity/permissions.ts.
 */
export const PERMISSIONS = [
  'tenant:read',
  'keys:manage',
  'users:manage',
  'groups:manage',
  // How people sign in: the tenant's identity provider (OIDC), trusted JWT issuers, SCIM.
  'identity:manage',
  // Provisioning through SCIM 2.0: held only by a tenant's SCIM bearer token, never by a role.
  'scim:provision',
  'audit:read',
  'documents:read',
  'documents:write',
  'documents:delete',
  // See every document's metadata and status, and delete any; content of restricted documents
  // only when the tenant sets adminsReadRestricted (enforced by RLS, migration 0010).
  'documents:manage',
  // The tenant's knowledge-hub settings (PII masking, admins reading restricted content).
  'knowledge:manage',
  'gateway:invoke',
  'gateway:manage',
  'usage:read',
  // Copilot: define agents and HTTP actions; start runs (and see one's own); approve tool calls
  // (which also shows every run of the tenant: an approver must see what they approve).
  'agents:manage',
  'agents:run',
  'agents:approve',
  // Text-to-SQL: register and govern sources (admin); query and ask them (member).
  'sql:manage',
  'sql:query',
  // Webhook endpoints, their signing secrets and deliveries (admin).
  'webhooks:manage',
  // Evals: read golden sets and eval runs (viewer); run golden sets and replay recorded copilot
  // episodes (member). Writing golden sets stays with knowledge:manage (admin).
  'evals:read',
  'evals:run',
  // Retention periods and legal holds (owner): what the tenant keeps, and for how long.
  'governance:manage',
  // Data subject rights: export one's own data (any role; an owner any person's or the tenant's),
  // and erase a person (owner).
  'subjects:export',
  'subjects:erase',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** True when `value` names a permission of the catalogue. */
export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}
