import { createHash } from 'node:crypto';
import type { Database, TenantTx } from '../platform/db/database.js';
import { NotFound } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import { checkChunks, type Reconstruction } from './reconstruct.js';
import {
  currentChunkState,
  getRequestRecord,
  insertRequestRecord,
  selectDataPolicy,
  type NewRequestRecord,
} from './requests-store.js';

export type { NewRequestRecord, RecordedChunk, RequestKind } from './requests-store.js';
export type { Reconstruction, CheckedChunk, ChunkStatus } from './reconstruct.js';
export { formatReconstruction } from './reconstruct.js';

/**
 * The content hash a chunk is stored with (chunks.content_hash: SHA-256 of its indexed text),
 * computed from the text an answer received, so the record needs no extra read of the chunk.
 */
export function chunkContentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Writes the request record of an answer in the caller's tenant transaction (the feature's own,
 * where it has one, so the record commits with the work). The rendered prompt is dropped when
 * the tenant opted out of storing it; the template id and version are kept either way.
 */
export async function recordRequest(tx: TenantTx, record: NewRequestRecord): Promise<void> {
  const policy = await selectDataPolicy(tx);
  await insertRequestRecord(
    tx,
    policy.storeRenderedPrompts ? record : { ...record, promptRendered: null },
  );
}

/** Reads one tenant's request record and checks its chunks against what is stored now. */
async function reconstructIn(tx: TenantTx, requestId: string): Promise<Reconstruction> {
  const record = await getRequestRecord(tx, requestId);
  if (!record) throw new NotFound('Request record');
  const current = await currentChunkState(
    tx,
    [...new Set(record.chunks.map((c) => c.documentId))],
    record.chunks.map((c) => c.chunkId),
  );
  return checkChunks(record, current);
}

/** GET /v1/requests/:requestId and `rampart audit reconstruct`. */
export class RequestRecordService {
  constructor(private readonly db: Database) {}

  /** The caller's tenant's record (audit:read is checked by the route). */
  reconstruct(principal: Principal, requestId: string): Promise<Reconstruction> {
    return this.db.withTenant(principal, (tx) => reconstructIn(tx, requestId));
  }

  /**
   * The operator's path (the CLI): one tenant's record, read under RLS confined to that tenant
   * by a tenant-only context (no user, no groups; rampart_chunk_state reads hashes regardless).
   */
  reconstructForTenant(tenantId: string, requestId: string): Promise<Reconstruction> {
    return this.db.withTenant({ tenantId, groups: [] }, (tx) => reconstructIn(tx, requestId));
  }
}
