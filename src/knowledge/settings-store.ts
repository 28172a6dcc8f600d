import type { TenantTx } from '../platform/db/database.js';
import type { KnowledgeSettings } from './settings.js';

export interface KnowledgeSettingsRow {
  pii_masking: boolean;
  admins_read_restricted: boolean;
  embedding_alias: string | null;
  answer_alias: string | null;
}

/** The tenant's stored knowledge settings, or undefined when it never set them. */
export async function selectKnowledgeSettings(
  tx: TenantTx,
): Promise<KnowledgeSettingsRow | undefined> {
  const { rows } = await tx.query<KnowledgeSettingsRow>(
    `SELECT pii_masking, admins_read_restricted, embedding_alias, answer_alias
       FROM knowledge_settings WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  return rows[0];
}

/** Stores the tenant's knowledge settings, replacing any it had. */
export async function upsertKnowledgeSettings(tx: TenantTx, s: KnowledgeSettings): Promise<void> {
  await tx.query(
    `INSERT INTO knowledge_settings
       (tenant_id, pii_masking, admins_read_restricted, embedding_alias, answer_alias)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id) DO UPDATE SET pii_masking = EXCLUDED.pii_masking,
       admins_read_restricted = EXCLUDED.admins_read_restricted,
       embedding_alias = EXCLUDED.embedding_alias, answer_alias = EXCLUDED.answer_alias,
       updated_at = now()`,
    [tx.tenantId, s.piiMasking, s.adminsReadRestricted, s.embeddingAlias, s.answerAlias],
  );
}
