import type { TenantTx } from '../../platform/db/database.js';
import type { Limits } from '../../platform/http/limits-schema.js';
import type { ModelPrice } from './prices.js';
import type { ProviderSecretRow } from './providers-store.js';
import { listRoutes, type RouteRow } from './routing-store.js';

export interface KeyLimitsRow {
  key_id: string;
  models: string[] | null;
  limits: Limits | null;
}

/** Everything the invoke path reads about one tenant, as stored. */
export interface TenantConfigRows {
  routes: RouteRow[];
  providers: ProviderSecretRow[];
  prices: Map<string, ModelPrice>;
  tenantLimits: Limits;
  keyLimits: KeyLimitsRow[];
  /** governance_data_policy.require_pii_redaction (decision 020): redact for every provider not self-hosted. */
  requirePiiRedaction: boolean;
}

/**
 * Reads a tenant's whole gateway configuration in the caller's (one) tenant transaction, so
 * the snapshot is consistent: never a route from after a change with providers from before it.
 */
export async function loadTenantConfig(tx: TenantTx): Promise<TenantConfigRows> {
  const t = [tx.tenantId];
  // One after another: a pg client runs one query at a time anyway.
  const routes = await listRoutes(tx);
  const providers = await tx.query<ProviderSecretRow>(
    `SELECT id, tenant_id, name, type, base_url, headers, data_policy, self_hosted, created_at, updated_at,
            credential_key_id, credential_wrapped_key, credential_iv, credential_ciphertext,
            credential_tag
       FROM providers WHERE tenant_id = $1`,
    t,
  );
  const prices = await tx.query<{ model: string; i: string; o: string; c: string }>(
    `SELECT model, input_per_mtok AS i, output_per_mtok AS o, cached_input_per_mtok AS c
       FROM model_prices WHERE tenant_id = $1`,
    t,
  );
  const limits = await tx.query<{ limits: Limits }>(
    `SELECT limits FROM tenant_limits WHERE tenant_id = $1`,
    t,
  );
  // Every key of the tenant, with or without limits: a key missing from the snapshot is then
  // known to be newer than it (see TenantConfigCache.get), not a key without limits.
  const keys = await tx.query<KeyLimitsRow>(
    `SELECT k.id AS key_id, l.models, l.limits
       FROM api_keys k LEFT JOIN key_limits l ON l.tenant_id = k.tenant_id AND l.key_id = k.id
      WHERE k.tenant_id = $1 AND k.revoked_at IS NULL`,
    t,
  );
  // The tenant's data policy (migration 0075; its trigger NOTIFYs like the tables above).
  const policy = await tx.query<{ require_pii_redaction: boolean }>(
    `SELECT require_pii_redaction FROM governance_data_policy WHERE tenant_id = $1`,
    t,
  );
  return {
    requirePiiRedaction: policy.rows[0]?.require_pii_redaction === true,
    routes,
    providers: providers.rows,
    prices: new Map(
      prices.rows.map((r) => [
        r.model,
        { input: Number(r.i), output: Number(r.o), cachedInput: Number(r.c) },
      ]),
    ),
    tenantLimits: limits.rows[0]?.limits ?? {},
    keyLimits: keys.rows,
  };
}
