import type { Permission } from './permissions-catalogue.js';

/** Who is calling, derived only from a verified credential (API key, JWT or the root token). */
export interface Principal {
  readonly kind: 'api_key' | 'user';
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

/** Request facts that go into audit events and logs. */
export interface RequestMeta {
  readonly requestId: string;
  readonly ip: string;
  /** performance.now() when the request arrived (before parsing and authentication). */
  readonly receivedAt?: number | undefined;
}

/** Identifies the caller in audit events. */
export function actorOf(p: Principal | OperatorPrincipal): {
  type: 'api_key' | 'user' | 'operator';
  id: string | null;
} {
  if (p.kind === 'operator') return { type: 'operator', id: null };
  if (p.kind === 'api_key') return { type: 'api_key', id: p.keyId };
  return { type: 'user', id: p.userId };
}
