import type { TenantTx } from '../platform/db/database.js';
import type { KnowledgeSettings } from './settings.js';

export interface KnowledgeSettingsRow {
  pii_masking: boolean;
  admins_read_restricted: boolean;
}

/** The tenant's stored knowledge settings, or undefined when it never set them. */
export async function selectKnowledgeSettings(
  tx: TenantTx,
): Promise<KnowledgeSettingsRow | undefined> {
  const { rows } = await tx.query<KnowledgeSettingsRow>(
    `SELECT pii_masking, admins_read_restricted FROM knowledge_settings WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  return rows[0];
}

/** Stores the tenant's knowledge settings, replacing any it had. */
export async function upsertKnowledgeSettings(tx: TenantTx, s: KnowledgeSettings): Promise<void> {
  await tx.query(
    `INSERT INTO knowledge_settings (tenant_id, pii_masking, admins_read_restricted) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id) DO UPDATE SET pii_masking = EXCLUDED.pii_masking,
       admins_read_restricted = EXCLUDED.admins_read_restricted, updated_at = now()`,
    [tx.tenantId, s.piiMasking, s.adminsReadRestricted],
  );
}
