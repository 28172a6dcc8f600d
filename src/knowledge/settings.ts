import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';
import { auditSuccess } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { selectKnowledgeSettings, upsertKnowledgeSettings } from './settings-store.js';

/** A gateway alias (as in PUT /v1/gateway/routes/{alias}); '*' is not one a feature can name. */
const ModelAlias = safeString().regex(
  /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/,
  'a gateway alias (letters, digits, _.:/-)',
);

/** A tenant's knowledge-hub settings; a tenant that never set them gets these defaults. */
export const KnowledgeSettings = z.object({
  piiMasking: z.boolean(),
  /**
   * Holders of documents:manage (owner, admin) also read the content (chunks, search hits,
   * citations) of documents restricted to groups they are not in. Off by default: they see every
   * document's metadata and status, not its content. Enforced by RLS (migration 0010).
   */
  adminsReadRestricted: z.boolean(),
  /**
   * The gateway alias that embeds this tenant's chunks and search queries; null: the platform
   * default (EMBEDDINGS_*), else the built-in local embedder. Changing it changes the vector
   * space: documents ingested before are found by keyword only until they are re-ingested.
   */
  embeddingAlias: ModelAlias.nullable(),
  /** The gateway alias that writes generative /v1/ask answers; null: the platform default (ASK_CHAT_*). */
  answerAlias: ModelAlias.nullable(),
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
  const row = await selectKnowledgeSettings(tx);
  return row
    ? {
        piiMasking: row.pii_masking,
        adminsReadRestricted: row.admins_read_restricted,
        embeddingAlias: row.embedding_alias,
        answerAlias: row.answer_alias,
      }
    : { ...defaults, adminsReadRestricted: false, embeddingAlias: null, answerAlias: null };
}

/** The tenant's model aliases alone (null: the platform default), read on every model call. */
export async function readModelAliases(
  tx: TenantTx,
): Promise<Pick<KnowledgeSettings, 'embeddingAlias' | 'answerAlias'>> {
  const row = await selectKnowledgeSettings(tx);
  return { embeddingAlias: row?.embedding_alias ?? null, answerAlias: row?.answer_alias ?? null };
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
      await upsertKnowledgeSettings(tx, next);
      await auditSuccess(
        tx,
        principal,
        meta,
        'knowledge_settings.updated',
        { type: 'tenant', id: tx.tenantId },
        { before: current, after: next },
      );
      return next;
    });
  }
}
