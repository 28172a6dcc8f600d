import type { TenantTx } from '../platform/db/database.js';
import { UNIQUE_VIOLATION, pgErrorCode } from '../platform/db/sql.js';
import type { SourceType } from './detect.js';

export type DocumentStatus = 'queued' | 'processing' | 'ready' | 'failed';

export interface DocumentRow {
  id: string;
  tenant_id: string;
  title: string;
  source_type: SourceType;
  content_hash: string;
  tags: string[];
  groups: string[];
  status: DocumentStatus;
  failure_reason: string | null;
  page_count: number | null;
  chunk_count: number;
  bytes: string | number;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id, tenant_id, title, source_type, content_hash, tags, groups, status, failure_reason,
  page_count, chunk_count, bytes, created_by, created_at, updated_at`;

export interface NewDocument {
  id: string;
  title: string;
  sourceType: SourceType;
  contentHash: string;
  tags: readonly string[];
  groups: readonly string[];
  bytes: number;
  createdBy: string;
  /** The uploader (key and/or user): it always sees the document's status, whatever its groups. */
  uploadedByKey: string | null;
  uploadedByUser: string | null;
}

/**
 * Inserts a document and its bytes; false when an identical one (same content and groups)
 * exists. Neither RETURNING nor ON CONFLICT: both make Postgres apply the SELECT policy to the
 * new row, and a writer may file a document under groups it cannot read back. A duplicate is
 * caught as a unique violation inside a savepoint instead.
 */
export async function insertDocument(
  tx: TenantTx,
  d: NewDocument,
  content: Uint8Array,
): Promise<boolean> {
  await tx.query('SAVEPOINT insert_document');
  try {
    await tx.query(
      `INSERT INTO documents (id, tenant_id, title, source_type, content_hash, tags, groups, bytes, created_by,
                              uploaded_by_key, uploaded_by_user)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        d.id,
        tx.tenantId,
        d.title,
        d.sourceType,
        d.contentHash,
        [...d.tags],
        [...d.groups],
        d.bytes,
        d.createdBy,
        d.uploadedByKey,
        d.uploadedByUser,
      ],
    );
  } catch (err) {
    if (pgErrorCode(err) !== UNIQUE_VIOLATION) throw err;
    await tx.query('ROLLBACK TO SAVEPOINT insert_document');
    return false;
  }
  await tx.query('RELEASE SAVEPOINT insert_document');
  await tx.query(
    `INSERT INTO document_blobs (document_id, tenant_id, content) VALUES ($1, $2, $3)`,
    [d.id, tx.tenantId, Buffer.from(content.buffer, content.byteOffset, content.byteLength)],
  );
  return true;
}

export async function findByContent(
  tx: TenantTx,
  contentHash: string,
  groups: readonly string[],
): Promise<DocumentRow | undefined> {
  const { rows } = await tx.query<DocumentRow>(
    `SELECT ${COLUMNS} FROM documents WHERE tenant_id = $1 AND content_hash = $2 AND groups = $3`,
    [tx.tenantId, contentHash, [...groups]],
  );
  return rows[0];
}

export async function getDocument(tx: TenantTx, id: string): Promise<DocumentRow | undefined> {
  const { rows } = await tx.query<DocumentRow>(
    `SELECT ${COLUMNS} FROM documents WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export interface ListFilter {
  status?: DocumentStatus | undefined;
  tag?: string | undefined;
  after?: { createdAt: string; id: string } | undefined;
  limit: number;
}

/** Newest first; `position` is created_at at full precision, for the next page's cursor. */
export async function listDocuments(
  tx: TenantTx,
  f: ListFilter,
): Promise<(DocumentRow & { position: string })[]> {
  const { rows } = await tx.query<DocumentRow & { position: string }>(
    `SELECT ${COLUMNS}, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position
       FROM documents
      WHERE tenant_id = $1
        AND ($2::text IS NULL OR status = $2)
        AND ($3::text IS NULL OR tags @> ARRAY[$3::text])
        AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $6`,
    [
      tx.tenantId,
      f.status ?? null,
      f.tag ?? null,
      f.after?.createdAt ?? null,
      f.after?.id ?? null,
      f.limit,
    ],
  );
  return rows;
}

export async function readContent(tx: TenantTx, id: string): Promise<Uint8Array | undefined> {
  const { rows } = await tx.query<{ content: Uint8Array }>(
    `SELECT content FROM document_blobs WHERE tenant_id = $1 AND document_id = $2`,
    [tx.tenantId, id],
  );
  return rows[0]?.content;
}

export async function setStatus(
  tx: TenantTx,
  id: string,
  s: {
    status: DocumentStatus;
    failureReason?: string | null;
    pageCount?: number | null;
    chunkCount?: number;
  },
): Promise<void> {
  await tx.query(
    `UPDATE documents SET status = $3, failure_reason = $4, page_count = coalesce($5, page_count),
            chunk_count = coalesce($6, chunk_count), updated_at = now()
      WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id, s.status, s.failureReason ?? null, s.pageCount ?? null, s.chunkCount ?? null],
  );
}

/** Deletes the document (chunks and bytes cascade) and cached vectors no other chunk uses; returns whether it existed. */
export async function deleteDocument(tx: TenantTx, id: string): Promise<boolean> {
  await tx.query(
    `DELETE FROM embedding_cache c
      WHERE c.tenant_id = $1
        AND c.content_hash IN (SELECT content_hash FROM chunks WHERE tenant_id = $1 AND document_id = $2)
        AND NOT EXISTS (SELECT 1 FROM chunks o WHERE o.tenant_id = $1 AND o.document_id <> $2
                                                AND o.content_hash = c.content_hash)`,
    [tx.tenantId, id],
  );
  const res = await tx.query(`DELETE FROM documents WHERE tenant_id = $1 AND id = $2`, [
    tx.tenantId,
    id,
  ]);
  return res.rowCount > 0;
}

/** Documents whose only group is `group` (at most `limit`), and how many there are. */
export async function documentsOnlyInGroup(
  tx: TenantTx,
  group: string,
  limit: number,
): Promise<{ ids: string[]; total: number }> {
  const { rows } = await tx.query<{ id: string; total: number }>(
    `SELECT id, (count(*) OVER ())::int AS total FROM documents
      WHERE tenant_id = $1 AND groups = ARRAY[$2::text] ORDER BY created_at, id LIMIT $3`,
    [tx.tenantId, group, limit],
  );
  return { ids: rows.map((r) => r.id), total: rows[0]?.total ?? 0 };
}

/**
 * Takes a group out of every document filed under it and rewrites their chunks' copy to match
 * (rampart_sync_chunk_groups: the caller may not see those chunks). Returns the documents
 * changed, or undefined when one would then equal an identical document already filed under the
 * remaining groups.
 */
export async function removeGroupFromDocuments(
  tx: TenantTx,
  group: string,
): Promise<string[] | undefined> {
  await tx.query('SAVEPOINT remove_document_group');
  let ids: string[];
  try {
    const { rows } = await tx.query<{ id: string }>(
      `UPDATE documents SET groups = array_remove(groups, $2), updated_at = now()
        WHERE tenant_id = $1 AND $2 = ANY(groups) RETURNING id`,
      [tx.tenantId, group],
    );
    ids = rows.map((r) => r.id);
  } catch (err) {
    if (pgErrorCode(err) !== UNIQUE_VIOLATION) throw err;
    await tx.query('ROLLBACK TO SAVEPOINT remove_document_group');
    return undefined;
  }
  await tx.query('RELEASE SAVEPOINT remove_document_group');
  if (ids.length > 0) await tx.query('SELECT rampart_sync_chunk_groups($1::uuid[])', [ids]);
  return ids;
}

export interface NewChunk {
  ordinal: number;
  text: string;
  contentHash: string;
  pageFrom: number | null;
  pageTo: number | null;
  headingPath: string[];
  tokenCount: number;
  embedding: string;
}

/** Replaces a document's chunks: a re-run attempt leaves exactly one set. */
export async function replaceChunks(
  tx: TenantTx,
  documentId: string,
  groups: readonly string[],
  model: string,
  chunks: readonly NewChunk[],
): Promise<void> {
  await tx.query(`DELETE FROM chunks WHERE tenant_id = $1 AND document_id = $2`, [
    tx.tenantId,
    documentId,
  ]);
  const BATCH = 200;
  for (let i = 0; i < chunks.length; i += BATCH) {
    const batch = chunks.slice(i, i + BATCH);
    await tx.query(
      `INSERT INTO chunks (tenant_id, document_id, groups, embedding_model, ordinal, text, content_hash,
                           page_from, page_to, heading_path, token_count, embedding)
       SELECT $1, $2, $3, $4, c.ordinal, c.text, c.content_hash, c.page_from, c.page_to,
              ARRAY(SELECT jsonb_array_elements_text(c.heading_path)), c.token_count, c.embedding::vector
         FROM jsonb_to_recordset($5::jsonb) AS c(ordinal int, text text, content_hash text, page_from int,
              page_to int, heading_path jsonb, token_count int, embedding text)`,
      [
        tx.tenantId,
        documentId,
        [...groups],
        model,
        JSON.stringify(
          batch.map((c) => ({
            ordinal: c.ordinal,
            text: c.text,
            content_hash: c.contentHash,
            page_from: c.pageFrom,
            page_to: c.pageTo,
            heading_path: c.headingPath,
            token_count: c.tokenCount,
            embedding: c.embedding,
          })),
        ),
      ],
    );
  }
}

export interface ChunkRow {
  id: string;
  document_id: string;
  ordinal: number;
  text: string;
  page_from: number | null;
  page_to: number | null;
  heading_path: string[];
  token_count: number;
}

export async function listChunks(tx: TenantTx, documentId: string): Promise<ChunkRow[]> {
  const { rows } = await tx.query<ChunkRow>(
    `SELECT id, document_id, ordinal, text, page_from, page_to, heading_path, token_count
       FROM chunks WHERE tenant_id = $1 AND document_id = $2 ORDER BY ordinal`,
    [tx.tenantId, documentId],
  );
  return rows;
}

export async function cachedEmbeddings(
  tx: TenantTx,
  model: string,
  hashes: readonly string[],
): Promise<Map<string, string>> {
  const { rows } = await tx.query<{ content_hash: string; embedding: string }>(
    `SELECT content_hash, embedding::text AS embedding FROM embedding_cache
      WHERE tenant_id = $1 AND model = $2 AND content_hash = ANY($3)`,
    [tx.tenantId, model, [...hashes]],
  );
  return new Map(rows.map((r) => [r.content_hash, r.embedding]));
}

export async function cacheEmbeddings(
  tx: TenantTx,
  model: string,
  entries: readonly { hash: string; embedding: string }[],
): Promise<void> {
  if (entries.length === 0) return;
  await tx.query(
    `INSERT INTO embedding_cache (tenant_id, model, content_hash, embedding)
     SELECT $1, $2, e.hash, e.embedding::vector FROM jsonb_to_recordset($3::jsonb) AS e(hash text, embedding text)
     ON CONFLICT DO NOTHING`,
    [tx.tenantId, model, JSON.stringify(entries)],
  );
}
