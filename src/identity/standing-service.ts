import type { Database } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import { getApiKey } from './keys-store.js';
import { isRole } from './permissions.js';

/**
 * Where a principal stands now, for work that outlives its request (a copilot run resumed hours
 * later): its key's current role and groups, or undefined once the key is revoked, expired or
 * gone. A principal without a key stands as it was verified.
 */
export async function currentStanding(
  db: Database,
  principal: Principal,
): Promise<{ role: string; groups: readonly string[] } | undefined> {
  const keyId = principal.keyId;
  if (keyId === null) return { role: principal.role, groups: principal.groups };
  const row = await db.withTenant(principal, (tx) => getApiKey(tx, keyId));
  if (!row || row.revoked_at !== null) return undefined;
  if (row.expires_at !== null && row.expires_at.getTime() <= Date.now()) return undefined;
  return { role: isRole(row.role) ? row.role : 'viewer', groups: row.groups };
}
