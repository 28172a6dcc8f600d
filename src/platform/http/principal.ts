import type { Permission } from './permissions-catalogue.js';

/**
 * Who is calling, derived only from a verified credential (API key, JWT or the root token), or,
 * for a background job, from the job row read under RLS (kind 'service', see servicePrincipal).
 */
export interface Principal {
  readonly kind: 'api_key' | 'user' | 'service';
  readonly tenantId: string;
  readonly tenantSlug: string;
  readonly userId: string | null;
  readonly keyId: string | null;
  readonly role: string;
  readonly permissions: ReadonlySet<Permission>;
  readonly groups: readonly string[];
}

/** The platform operator (RAMPART_ROOT_TOKEN): may call /admin/v1, never tenant routes. */
export interface OperatorPrincipal {
  readonly kind: 'operator';
}

/**
 * A background job acting for its tenant (e.g. ingestion calling the embedding model): no user,
 * no key, no permissions. The tenant id must come from a verified source — the job row, read
 * under RLS — never from a payload. Its usage rows carry neither a key nor a user id.
 */
export function servicePrincipal(tenantId: string): Principal {
  return {
    kind: 'service',
    tenantId,
    // Only /v1/models labels anything with the slug; a service principal never lists models.
    tenantSlug: '',
    userId: null,
    keyId: null,
    role: 'service',
    permissions: new Set(),
    groups: [],
  };
}

/** Request facts that go into audit events and logs. */
export interface RequestMeta {
  readonly requestId: string;
  readonly ip: string;
  /** performance.now() when the request arrived (before parsing and authentication). */
  readonly receivedAt?: number | undefined;
}

/** Identifies the caller in audit events. */
export function actorOf(p: Principal | OperatorPrincipal): {
  type: 'api_key' | 'user' | 'operator' | 'system';
  id: string | null;
} {
  if (p.kind === 'operator') return { type: 'operator', id: null };
  if (p.kind === 'service') return { type: 'system', id: null };
  if (p.kind === 'api_key') return { type: 'api_key', id: p.keyId };
  return { type: 'user', id: p.userId };
}
