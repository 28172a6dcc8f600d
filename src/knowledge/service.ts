import { withQuota, type QuotaGate } from '../platform/quota.js';
import { createHash, randomUUID } from 'node:crypto';
import { auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import {
  Conflict,
  Forbidden,
  InvalidInput,
  NotFound,
  PayloadTooLarge,
  UnsupportedMediaType,
} from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { decodeCursor, paginate } from '../platform/http/cursor.js';
import { assertKnownGroups } from '../identity/groups-service.js';
import { enqueueJob } from '../platform/queue/queue.js';
import { detectSourceType, type SourceType } from './detect.js';
import { INGEST_JOB, type IngestPayload } from './ingest.js';
import type { DocumentView } from './schemas.js';
import {
  deleteDocument,
  findByContent,
  getDocument,
  insertDocument,
  listChunks,
  listDocuments,
  type DocumentRow,
  type DocumentStatus,
} from './store.js';

export interface NewUpload {
  title: string;
  content: Uint8Array;
  /** Set when the caller said what the content is (JSON `text`/`markdown`/`html`); else detected from the bytes. */
  declaredType?: SourceType;
  tags?: readonly string[] | undefined;
  groups?: readonly string[] | undefined;
}

export interface DocumentServiceOptions {
  maxBytes: number;
  maxAttempts: number;
  /** The plan's documents and storageBytes quotas (reserved before the document is stored). */
  quotas?: QuotaGate | undefined;
}

const sorted = (xs: readonly string[] | undefined): string[] => [...new Set(xs ?? [])].sort();

function view(r: DocumentRow): DocumentView {
  return {
    id: r.id,
    title: r.title,
    sourceType: r.source_type,
    status: r.status,
    failureReason: r.failure_reason,
    pageCount: r.page_count,
    chunkCount: r.chunk_count,
    contentHash: r.content_hash,
    bytes: Number(r.bytes),
    tags: r.tags,
    groups: r.groups,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** Documents: accepting uploads (durably, with their ingestion job), listing, reading and deleting. */
export class DocumentService {
  constructor(
    private readonly db: Database,
    private readonly opts: DocumentServiceOptions,
  ) {}

  /**
   * Records the document and its bytes and enqueues its ingestion in one transaction: when this
   * returns, the work is durable. Identical content with the same groups returns the existing
   * document (`duplicate: true`) instead of a second copy.
   */
  async accept(
    principal: Principal,
    upload: NewUpload,
    meta: RequestMeta,
  ): Promise<{ id: string; status: DocumentStatus; duplicate: boolean }> {
    const { content } = upload;
    // An empty file is accepted: it ends `failed` with "The file is empty (0 bytes)." like any
    // other unreadable upload, so every bad file reads the same way in the document list.
    if (content.byteLength > this.opts.maxBytes)
      throw new PayloadTooLarge(
        `The document is ${content.byteLength} bytes; the limit is ${this.opts.maxBytes}.`,
      );
    const sourceType = upload.declaredType ?? detectSourceType(content);
    if (!sourceType)
      throw new UnsupportedMediaType(
        'Unsupported document type: upload PDF, Word (.docx), HTML, Markdown or plain UTF-8 text.' +
          // Say why a file that looks like text is not: UTF-16 and binary files are full of NULs.
          (content.includes(0)
            ? ' The content contains NUL bytes (binary data or UTF-16 text).'
            : ''),
      );
    const groups = sorted(upload.groups);
    // Restricting a document to a group you are not in is an administrator's act.
    const foreign = groups.filter((g) => !principal.groups.includes(g));
    if (foreign.length > 0 && !principal.permissions.has('groups:manage'))
      throw new InvalidInput(`You are not a member of group(s): ${foreign.join(', ')}.`, {
        errors: [{ field: 'body.groups', message: 'not a member' }],
      });
    const contentHash = createHash('sha256').update(content).digest('hex');
    const id = randomUUID();
    const size = { documents: 1, storageBytes: content.byteLength };
    return withQuota(
      this.opts.quotas,
      principal,
      ['documents', 'storageBytes'],
      () => size,
      () => this.#store(principal, upload, meta, { id, sourceType, contentHash, groups }),
      (r) => (r.duplicate ? {} : size),
    );
  }

  async #store(
    principal: Principal,
    upload: NewUpload,
    meta: RequestMeta,
    d: { id: string; sourceType: SourceType; contentHash: string; groups: string[] },
  ): Promise<{ id: string; status: DocumentStatus; duplicate: boolean }> {
    const { content } = upload;
    const { id, sourceType, contentHash, groups } = d;
    return this.db.withTenant(principal, async (tx) => {
      await assertKnownGroups(tx, groups);
      const inserted = await insertDocument(
        tx,
        {
          id,
          title: upload.title,
          sourceType,
          contentHash,
          tags: sorted(upload.tags),
          groups,
          bytes: content.byteLength,
          createdBy: `${actorOf(principal).type}:${actorOf(principal).id ?? ''}`,
          uploadedByKey: principal.keyId,
          uploadedByUser: principal.userId,
        },
        content,
      );
      if (!inserted) {
        const existing = await findByContent(tx, contentHash, groups);
        if (!existing)
          throw new Conflict('An identical document already exists.', 'duplicate_document');
        return { id: existing.id, status: existing.status, duplicate: true };
      }
      const payload: IngestPayload = { documentId: id, groups };
      await enqueueJob(tx, { kind: INGEST_JOB, payload, maxAttempts: this.opts.maxAttempts });
      await auditSuccess(
        tx,
        principal,
        meta,
        'document.created',
        { type: 'document', id },
        { title: upload.title, sourceType, bytes: content.byteLength, groups },
      );
      return { id, status: 'queued' as const, duplicate: false };
    });
  }

  async list(
    principal: Principal,
    q: {
      status?: DocumentStatus | undefined;
      tag?: string | undefined;
      limit: number;
      cursor?: string | undefined;
    },
  ): Promise<{ data: DocumentView[]; nextCursor: string | null }> {
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    const rows = await this.db.withTenant(principal, (tx) =>
      listDocuments(tx, { status: q.status, tag: q.tag, after, limit: q.limit + 1 }),
    );
    return paginate(rows, q.limit, view);
  }

  /**
   * A document the caller may see; 404 otherwise. RLS decides: its groups, documents:manage
   * (owner, admin) and its uploader see its metadata and status.
   */
  async get(principal: Principal, id: string): Promise<DocumentView> {
    const row = await this.db.withTenant(principal, (tx) => getDocument(tx, id));
    if (!row) throw new NotFound('Document');
    return view(row);
  }

  /**
   * The document's chunks. A document manager or uploader may see a restricted document's
   * metadata but not its content (RLS hides the chunks): that is a 403, not an empty list.
   */
  async chunks(principal: Principal, id: string) {
    return this.db.withTenant(principal, async (tx) => {
      const doc = await getDocument(tx, id);
      if (!doc) throw new NotFound('Document');
      const rows = await listChunks(tx, id);
      if (rows.length === 0 && doc.chunk_count > 0)
        throw new Forbidden(
          "This document's content is restricted to its groups (the tenant's adminsReadRestricted setting is off).",
          'content_restricted',
        );
      return rows.map((c) => ({
        id: c.id,
        ordinal: c.ordinal,
        text: c.text,
        pageFrom: c.page_from,
        pageTo: c.page_to,
        headingPath: c.heading_path,
        tokenCount: c.token_count,
      }));
    });
  }

  /** Deletes the document, its bytes, chunks, vectors and cached embeddings; audited. */
  async delete(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    const deleted = await this.db.withTenant(principal, async (tx) => {
      const doc = await getDocument(tx, id);
      if (!doc || !(await deleteDocument(tx, id))) throw new NotFound('Document');
      await auditSuccess(
        tx,
        principal,
        meta,
        'document.deleted',
        { type: 'document', id },
        { title: doc.title, contentHash: doc.content_hash, chunks: doc.chunk_count },
      );
      return doc;
    });
    await this.opts.quotas?.release(principal, {
      documents: 1,
      storageBytes: Number(deleted.bytes),
    });
  }
}
