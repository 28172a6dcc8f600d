import { appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { AppError, Forbidden } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { isRole, mayGrant, type Role } from './permissions.js';

/** "An admin", "A member": the indefinite article a role name takes. */
export function withArticle(role: string): string {
  return `${/^[aeiou]/i.test(role) ? 'An' : 'A'} ${role}`;
}

/**
 * Refuses (403 role_escalation) when the caller would hand out, change or remove a role above
 * their own. An unknown role string on either side is treated as unreachable, never as a pass.
 */
export function assertMayGrant(principal: Principal, role: string, action = 'grant'): void {
  if (!isRole(principal.role) || !isRole(role) || !mayGrant(principal.role, role)) {
    throw new Forbidden(
      `${withArticle(principal.role)} cannot ${action} the ${role} role.`,
      'role_escalation',
    );
  }
}

/** The same rule between a key and the user it acts for: a key never exceeds its user. */
export function assertKeyWithinUser(keyRole: Role, userRole: string): void {
  if (!isRole(userRole) || !mayGrant(userRole, keyRole)) {
    throw new Forbidden(
      `A key bound to ${withArticle(userRole).toLowerCase()} cannot have the ${keyRole} role.`,
      'role_escalation',
    );
  }
}

/**
 * Runs a tenant action and audits a 403 it ends in (role escalation and the like). The
 * action's own transaction rolled back, so the refusal is recorded in a transaction of its own.
 */
export async function auditingRefusals<T>(
  db: Database,
  principal: Principal,
  meta: RequestMeta,
  target: { type: string; id: string | null },
  action: () => Promise<T>,
): Promise<T> {
  try {
    return await action();
  } catch (err) {
    if (err instanceof AppError && err.status === 403) {
      await db.withTenant(principal, (tx) =>
        appendAuditEvent(tx, {
          actor: actorOf(principal),
          action: 'auth.forbidden',
          target,
          outcome: 'denied',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { reason: err.code, message: err.message, role: principal.role },
        }),
      );
    }
    throw err;
  }
}
