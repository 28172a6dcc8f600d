import type { Database, OperatorTx, TenantTx } from '../platform/db/database.js';
import { KEY_EVENTS_CHANNEL } from './keys-store.js';

/** Payload prefix on the key-events channel: the tenant was offboarded (every credential stops). */
export const TENANT_DISABLED_EVENT = 'tenant-disabled:';
/** Payload prefix: the tenant was restored within its grace period. */
export const TENANT_RESTORED_EVENT = 'tenant-restored:';

/**
 * Tenants an operator has offboarded, in this process's memory: every credential of theirs
 * (key, session, access token, identity-provider JWT, SCIM token) is refused at the one place
 * all of them pass, the authenticator, including verifications it has cached. Kept current by
 * notifications on the key-events channel and reloaded whenever that connection resets, like
 * the key cache itself (docs/decisions/018-retention-and-offboarding.md).
 */
export class DisabledTenants {
  #ids = new Set<string>();

  has(tenantId: string): boolean {
    return this.#ids.has(tenantId);
  }

  disabled(tenantId: string): void {
    this.#ids.add(tenantId);
  }

  restored(tenantId: string): void {
    this.#ids.delete(tenantId);
  }

  /** Applies a key-events payload; true when it was one of this class's. */
  apply(payload: string): boolean {
    if (payload.startsWith(TENANT_DISABLED_EVENT))
      this.disabled(payload.slice(TENANT_DISABLED_EVENT.length));
    else if (payload.startsWith(TENANT_RESTORED_EVENT))
      this.restored(payload.slice(TENANT_RESTORED_EVENT.length));
    else return false;
    return true;
  }

  async reload(db: Database): Promise<void> {
    const ids = await db.withOperator((tx) => offboardedTenantIds(tx));
    this.#ids = new Set(ids);
  }
}

/** Every tenant with an offboarding record (disabled, purging or purged). */
async function offboardedTenantIds(tx: OperatorTx): Promise<string[]> {
  const { rows } = await tx.query<{ tenant_ref: string }>(
    'SELECT tenant_ref FROM tenant_offboardings',
  );
  return rows.map((r) => r.tenant_ref);
}

/** Tells every instance (at commit) that a tenant was disabled or restored. */
export async function notifyTenantStanding(
  tx: OperatorTx | TenantTx,
  tenantId: string,
  disabled: boolean,
): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [
    KEY_EVENTS_CHANNEL,
    `${disabled ? TENANT_DISABLED_EVENT : TENANT_RESTORED_EVENT}${tenantId}`,
  ]);
}
