import type { Database } from '../platform/db/database.js';
import {
  TENANT_DISABLED_EVENT,
  TENANT_RESTORED_EVENT,
  offboardedTenantIds,
} from './disabled-tenants-store.js';

export {
  TENANT_DISABLED_EVENT,
  TENANT_RESTORED_EVENT,
  notifyTenantStanding,
} from './disabled-tenants-store.js';

/**
 * Tenants an operator has offboarded, in this process's memory: every credential of theirs
 * (key, session, access token, identity-provider JWT, SCIM token) is refused at the one place
 * all of them pass, the authenticator, including verifications it has cached. Kept current by
 * notifications on the key-events channel and reloaded whenever that connection resets, like
 * the key cache itself (docs/decisions/018-retention-and-offboarding.md).
 */
export class DisabledTenants {
  #ids = new Set<string>();
  readonly #listeners = new Set<(tenantId: string) => void>();

  /**
   * Calls `listener` whenever a tenant is disabled (here or, by NOTIFY, on another instance), so
   * what outlives a request (an open WebSocket) can end; answers the function that unsubscribes.
   */
  onDisabled(listener: (tenantId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  has(tenantId: string): boolean {
    return this.#ids.has(tenantId);
  }

  disabled(tenantId: string): void {
    this.#ids.add(tenantId);
    for (const listener of this.#listeners) listener(tenantId);
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
    const before = this.#ids;
    this.#ids = new Set(ids);
    // A disable missed while notifications were down still reaches the listeners.
    for (const id of ids) if (!before.has(id)) for (const listener of this.#listeners) listener(id);
  }
}
