import { one } from '../../platform/checked.js';
import type { TenantTx } from '../../platform/db/database.js';
import type { ModelPrice } from './prices.js';

// A tenant's price overrides (model_prices). The usage ledger reads the same table when it
// prices a batch of usage rows (usage/usage-store.ts); built-in prices are in prices.ts.

export interface PriceRow {
  model: string;
  input_per_mtok: string | number;
  output_per_mtok: string | number;
  cached_input_per_mtok: string | number;
}

export async function upsertPrice(
  tx: TenantTx,
  model: string,
  p: ModelPrice,
): Promise<{ created: boolean }> {
  const { rows } = await tx.query<{ created: boolean }>(
    `INSERT INTO model_prices (tenant_id, model, input_per_mtok, output_per_mtok, cached_input_per_mtok)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, model) DO UPDATE SET input_per_mtok = EXCLUDED.input_per_mtok,
       output_per_mtok = EXCLUDED.output_per_mtok,
       cached_input_per_mtok = EXCLUDED.cached_input_per_mtok, updated_at = now()
     RETURNING (xmax = 0) AS created`,
    [tx.tenantId, model, String(p.input), String(p.output), String(p.cachedInput)],
  );
  return one(rows);
}

export async function listPrices(tx: TenantTx): Promise<PriceRow[]> {
  const { rows } = await tx.query<PriceRow>(
    `SELECT model, input_per_mtok, output_per_mtok, cached_input_per_mtok FROM model_prices
      WHERE tenant_id = $1 ORDER BY model`,
    [tx.tenantId],
  );
  return rows;
}

export async function deletePrice(tx: TenantTx, model: string): Promise<boolean> {
  const r = await tx.query(`DELETE FROM model_prices WHERE tenant_id = $1 AND model = $2`, [
    tx.tenantId,
    model,
  ]);
  return r.rowCount > 0;
}
