import { z } from 'zod';
import { appendAuditEvent } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';

/** A tenant's knowledge-hub settings; a tenant that never set them gets these defaults. */
export const KnowledgeSettings = z.object({
  piiMasking: z.boolean(),
  /**
   * Holders of documents:manage (owner, admin) also read the content (chunks, search hits,
   * citations) of documents restricted to groups they are not in. Off by default: they see every
   * document's metadata and status, not its content. Enforced by RLS (migration 0010).
   */
  adminsReadRestricted: z.boolean(),
});
export type KnowledgeSettings = z.infer<typeof KnowledgeSettings>;
/** The defaults configuration provides; the other settings default to off. */
export type KnowledgeDefaults = Pick<KnowledgeSettings, 'piiMasking'>;
export const KnowledgeSettingsPatch = KnowledgeSettings.partial().strict();
export type KnowledgeSettingsPatch = z.infer<typeof KnowledgeSettingsPatch>;

/** Reads the tenant's settings; `defaults` (from config) apply when the tenant set none. */
export async function readKnowledgeSettings(
  tx: TenantTx,
  defaults: KnowledgeDefaults,
): Promise<KnowledgeSettings> {
  const { rows } = await tx.query<{ pii_masking: boolean; admins_read_restricted: boolean }>(
    `SELECT pii_masking, admins_read_restricted FROM knowledge_settings WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  const row = rows[0];
  return row
    ? { piiMasking: row.pii_masking, adminsReadRestricted: row.admins_read_restricted }
    : { ...defaults, adminsReadRestricted: false };
}

async function writeKnowledgeSettings(tx: TenantTx, s: KnowledgeSettings): Promise<void> {
  await tx.query(
    `INSERT INTO knowledge_settings (tenant_id, pii_masking, admins_read_restricted) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id) DO UPDATE SET pii_masking = EXCLUDED.pii_masking,
       admins_read_restricted = EXCLUDED.admins_read_restricted, updated_at = now()`,
    [tx.tenantId, s.piiMasking, s.adminsReadRestricted],
  );
}

/** Reads and changes a tenant's knowledge settings; changes are audited. */
export class KnowledgeSettingsService {
  constructor(
    private readonly db: Database,
    private readonly defaults: KnowledgeDefaults,
  ) {}

  get(principal: Principal): Promise<KnowledgeSettings> {
    return this.db.withTenant(principal, (tx) => readKnowledgeSettings(tx, this.defaults));
  }

  update(
    principal: Principal,
    patch: KnowledgeSettingsPatch,
    meta: RequestMeta,
  ): Promise<KnowledgeSettings> {
    return this.db.withTenant(principal, async (tx) => {
      const current = await readKnowledgeSettings(tx, this.defaults);
      const next = { ...current, ...patch };
      await writeKnowledgeSettings(tx, next);
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action: 'knowledge_settings.updated',
        target: { type: 'tenant', id: tx.tenantId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { before: current, after: next },
      });
      return next;
    });
  }
}
