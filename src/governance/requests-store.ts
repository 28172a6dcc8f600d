import type { TenantTx } from '../platform/db/database.js';

/** A retrieved chunk as an answer used it: its hash then, so a later change is detectable. */
export interface RecordedChunk {
  chunkId: string;
  documentId: string;
  title: string;
  score: number | null;
  contentHash: string;
  /** Whether the answer cited it (else: retrieved and sent, not cited). */
  cited: boolean;
}

export type RequestKind = 'ask' | 'sql_ask' | 'copilot_run';

/** A request record as written. */
export interface NewRequestRecord {
  requestId: string;
  kind: RequestKind;
  userId: string | null;
  keyId: string | null;
  question: string;
  chunks: RecordedChunk[];
  promptTemplate: string | null;
  promptVersion: string | null;
  /** The messages sent (null: not stored, the tenant opted out or there was no model call). */
  promptRendered: unknown;
  modelAlias: string | null;
  provider: string | null;
  model: string | null;
  answer: unknown;
  citations: unknown[];
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  redactions: number;
  timings: Record<string, number>;
}

interface RecordRow {
  request_id: string;
  kind: RequestKind;
  user_id: string | null;
  key_id: string | null;
  question: string;
  chunks: RecordedChunk[];
  prompt_template: string | null;
  prompt_version: string | null;
  prompt_rendered: unknown;
  model_alias: string | null;
  provider: string | null;
  model: string | null;
  answer: unknown;
  citations: unknown[];
  prompt_tokens: string | number;
  completion_tokens: string | number;
  cost_usd: string | number;
  redactions: number;
  timings: Record<string, number>;
  created_at: Date | string;
}

/** A stored request record, as read back. */
export interface StoredRequestRecord extends NewRequestRecord {
  createdAt: string;
}

/**
 * Inserts a record in the caller's transaction; the first record under a request id stays (a
 * client may reuse an x-request-id: a later request never overwrites the evidence).
 */
export async function insertRequestRecord(tx: TenantTx, r: NewRequestRecord): Promise<boolean> {
  const res = await tx.query(
    `INSERT INTO request_records (tenant_id, request_id, kind, user_id, key_id, question, chunks,
        prompt_template, prompt_version, prompt_rendered, model_alias, provider, model, answer,
        citations, prompt_tokens, completion_tokens, cost_usd, redactions, timings)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $13, $14::jsonb,
        $15::jsonb, $16, $17, $18, $19, $20::jsonb)
     ON CONFLICT (tenant_id, request_id) DO NOTHING`,
    [
      tx.tenantId,
      r.requestId,
      r.kind,
      r.userId,
      r.keyId,
      r.question,
      JSON.stringify(r.chunks),
      r.promptTemplate,
      r.promptVersion,
      r.promptRendered === null || r.promptRendered === undefined
        ? null
        : JSON.stringify(r.promptRendered),
      r.modelAlias,
      r.provider,
      r.model,
      JSON.stringify(r.answer ?? null),
      JSON.stringify(r.citations),
      Math.max(0, Math.round(r.promptTokens)),
      Math.max(0, Math.round(r.completionTokens)),
      String(r.costUsd),
      r.redactions,
      JSON.stringify(r.timings),
    ],
  );
  return res.rowCount > 0;
}

export async function getRequestRecord(
  tx: TenantTx,
  requestId: string,
): Promise<StoredRequestRecord | undefined> {
  const { rows } = await tx.query<RecordRow>(
    `SELECT request_id, kind, user_id, key_id, question, chunks, prompt_template, prompt_version,
            prompt_rendered, model_alias, provider, model, answer, citations, prompt_tokens,
            completion_tokens, cost_usd, redactions, timings, created_at
       FROM request_records WHERE tenant_id = $1 AND request_id = $2`,
    [tx.tenantId, requestId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    requestId: r.request_id,
    kind: r.kind,
    userId: r.user_id,
    keyId: r.key_id,
    question: r.question,
    chunks: r.chunks,
    promptTemplate: r.prompt_template,
    promptVersion: r.prompt_version,
    promptRendered: r.prompt_rendered,
    modelAlias: r.model_alias,
    provider: r.provider,
    model: r.model,
    answer: r.answer,
    citations: r.citations,
    promptTokens: Number(r.prompt_tokens),
    completionTokens: Number(r.completion_tokens),
    costUsd: Number(r.cost_usd),
    redactions: r.redactions,
    timings: r.timings,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

/** The current chunks (id and hash) of these documents, and these chunks, whatever their groups. */
export async function currentChunkState(
  tx: TenantTx,
  documentIds: readonly string[],
  chunkIds: readonly string[],
): Promise<{ documentId: string; chunkId: string | null; contentHash: string | null }[]> {
  const { rows } = await tx.query<{
    document_id: string;
    chunk_id: string | null;
    content_hash: string | null;
  }>(
    `SELECT document_id, chunk_id, content_hash FROM rampart_chunk_state($1::uuid[], $2::uuid[])`,
    [[...documentIds], [...chunkIds]],
  );
  return rows.map((r) => ({
    documentId: r.document_id,
    chunkId: r.chunk_id,
    contentHash: r.content_hash,
  }));
}

export interface DataPolicySettings {
  storeRenderedPrompts: boolean;
  requirePiiRedaction: boolean;
}

export const DEFAULT_DATA_POLICY: DataPolicySettings = {
  storeRenderedPrompts: true,
  requirePiiRedaction: false,
};

export async function selectDataPolicy(tx: TenantTx): Promise<DataPolicySettings> {
  const { rows } = await tx.query<{
    store_rendered_prompts: boolean;
    require_pii_redaction: boolean;
  }>(
    `SELECT store_rendered_prompts, require_pii_redaction FROM governance_data_policy
      WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  const r = rows[0];
  return r
    ? {
        storeRenderedPrompts: r.store_rendered_prompts,
        requirePiiRedaction: r.require_pii_redaction,
      }
    : { ...DEFAULT_DATA_POLICY };
}

export async function upsertDataPolicy(tx: TenantTx, s: DataPolicySettings): Promise<void> {
  await tx.query(
    `INSERT INTO governance_data_policy (tenant_id, store_rendered_prompts, require_pii_redaction)
     VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id) DO UPDATE SET store_rendered_prompts = EXCLUDED.store_rendered_prompts,
       require_pii_redaction = EXCLUDED.require_pii_redaction, updated_at = now()`,
    [tx.tenantId, s.storeRenderedPrompts, s.requirePiiRedaction],
  );
}
