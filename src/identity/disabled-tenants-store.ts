import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import { KEY_EVENTS_CHANNEL } from './keys-store.js';

/** Payload prefix on the key-events channel: the tenant was offboarded (every credential stops). */
export const TENANT_DISABLED_EVENT = 'tenant-disabled:';
/** Payload prefix: the tenant was restored within its grace period. */
export const TENANT_RESTORED_EVENT = 'tenant-restored:';

/** Every tenant with an offboarding record (disabled, purging or purged). */
export async function offboardedTenantIds(tx: OperatorTx): Promise<string[]> {
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
