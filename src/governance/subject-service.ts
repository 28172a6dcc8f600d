import type { FastifyReply } from 'fastify';
import { appendAuditEvent, auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { AppError, Conflict, Forbidden, InvalidInput, NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { enqueueJob } from '../platform/queue/queue.js';
import {
  findErasure,
  holdOn,
  insertErasure,
  memberEmail,
  type ErasureRow,
} from './erasure-store.js';
import { checkExportLink, signExportLink, type ExportLink } from './exports-links.js';
import {
  findExport,
  insertExport,
  memberOf,
  readArchive,
  type ExportRow,
} from './exports-store.js';

export const EXPORT_JOB = 'governance.export';
export const ERASURE_JOB = 'governance.erase';

export interface ExportView {
  id: string;
  scope: 'user' | 'tenant';
  subjectUserId: string | null;
  status: 'queued' | 'completed' | 'failed';
  failureReason: string | null;
  bytes: number | null;
  sha256: string | null;
  files: number | null;
  createdAt: string;
  completedAt: string | null;
  download: ExportLink | null;
}

export interface ErasureView {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  documents: 'delete' | 'transfer';
  transferTo: string | null;
  pseudonym: string;
  failureReason: string | null;
  steps: string[];
  counts: Record<string, number>;
  createdAt: string;
  completedAt: string | null;
}

class Gone extends AppError {
  constructor(message: string, code: string) {
    super(410, code, message);
  }
}

function who(p: Principal): string {
  const a = actorOf(p);
  return `${a.type}:${a.id ?? ''}`;
}

function erasureView(r: ErasureRow): ErasureView {
  return {
    id: r.id,
    status: r.status,
    documents: r.documents,
    transferTo: r.transfer_to,
    pseudonym: r.pseudonym,
    failureReason: r.failure_reason,
    steps: r.steps,
    counts: r.counts,
    createdAt: r.created_at.toISOString(),
    completedAt: r.completed_at?.toISOString() ?? null,
  };
}

/** Data subject rights: exports (GDPR art. 15/20) and erasures (art. 17). See docs/governance.md. */
export class SubjectRightsService {
  constructor(
    private readonly db: Database,
    private readonly opts: { serverSecret: string; linkTtlSeconds: number },
  ) {}

  /** Queues an export of one person (the owner, or the person themself) or of the tenant (owner). */
  async requestExport(
    principal: Principal,
    subject: { userId: string } | { tenant: true },
    meta: RequestMeta,
  ): Promise<ExportView> {
    const userId = 'userId' in subject ? subject.userId : null;
    const self = userId !== null && userId === principal.userId;
    if (!self && principal.role !== 'owner')
      throw new Forbidden(
        'Only an owner may export another person or the whole tenant; a member may export themself.',
        'owner_required',
      );
    const row = await this.db.withTenant(principal, async (tx) => {
      if (userId !== null && !(await memberOf(tx, userId))) throw new NotFound('User');
      const row = await insertExport(tx, {
        scope: userId === null ? 'tenant' : 'user',
        subjectUserId: userId,
        requestedBy: who(principal),
      });
      await enqueueJob(tx, { kind: EXPORT_JOB, payload: { exportId: row.id } });
      await auditSuccess(
        tx,
        principal,
        meta,
        'export.requested',
        { type: 'export', id: row.id },
        { scope: row.scope, ...(userId ? { userId } : {}) },
      );
      return row;
    });
    return this.exportView(principal, row);
  }

  async getExport(principal: Principal, id: string): Promise<ExportView> {
    const row = await this.db.withTenant(principal, (tx) => findExport(tx, id));
    if (!row || !this.maySee(principal, row)) throw new NotFound('Export');
    return this.exportView(principal, row);
  }

  /** Sends the archive a valid, unexpired link names, and audits the download. */
  async download(
    q: { exportId: string; tenantId: string; expires: number; sig: string },
    meta: RequestMeta,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const verdict = checkExportLink(this.opts.serverSecret, q);
    if (verdict === 'invalid')
      throw new Forbidden('This download link is not valid.', 'invalid_link');
    if (verdict === 'expired')
      throw new Gone(
        'This download link has expired; GET /v1/exports/:id gives a new one.',
        'link_expired',
      );
    const archive = await this.db.withTenant(
      { tenantId: q.tenantId, userId: null, groups: [] },
      async (tx) => {
        const content = await readArchive(tx, q.exportId);
        if (!content) return undefined;
        await appendAuditEvent(tx, {
          actor: { type: 'anonymous', id: null },
          action: 'export.downloaded',
          target: { type: 'export', id: q.exportId },
          outcome: 'success',
          ip: meta.ip,
          requestId: meta.requestId,
          details: { via: 'signed_link', bytes: content.length },
        });
        return content;
      },
    );
    if (!archive) throw new NotFound('Export archive');
    return reply
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="rampart-export-${q.exportId}.tar"`)
      .type('application/x-tar')
      .send(archive);
  }

  /** Queues the erasure of a person from the tenant (owner). */
  async requestErasure(
    principal: Principal,
    body: { userId: string; documents: 'delete' | 'transfer'; transferTo?: string | undefined },
    meta: RequestMeta,
  ): Promise<ErasureView> {
    if (principal.role !== 'owner')
      throw new Forbidden('Only an owner may erase a person.', 'owner_required');
    if (body.userId === principal.userId)
      throw new InvalidInput('body.userId: an owner cannot erase themself; ask another owner.', {
        errors: [{ field: 'body.userId', message: 'cannot erase the caller' }],
      });
    const transferTo = body.documents === 'transfer' ? (body.transferTo ?? null) : null;
    if (body.documents === 'transfer' && (!transferTo || transferTo === body.userId))
      throw new InvalidInput(
        'body.transferTo: transfer mode needs another member to receive the documents.',
        {
          errors: [{ field: 'body.transferTo', message: 'required: a member other than userId' }],
        },
      );
    const row = await this.db.withTenant(principal, async (tx) => {
      if (transferTo && !(await memberOf(tx, transferTo)))
        throw new InvalidInput('body.transferTo: not a member of this tenant.', {
          errors: [{ field: 'body.transferTo', message: 'not a member' }],
        });
      // Data under a legal hold is never removed: the hold is released first (art. 17(3)(e)).
      const hold = await holdOn(tx, body.userId);
      if (hold)
        throw new Conflict(
          `A legal hold (${hold}) covers this person's data; release it before erasing.`,
          'legal_hold',
        );
      // A person already erased (or never a member) gives an erasure that finds nothing: a retry
      // of a completed erasure is harmless.
      const email = (await memberEmail(tx, body.userId)) ?? null;
      const row = await insertErasure(tx, {
        userId: body.userId,
        email,
        documents: body.documents,
        transferTo,
        requestedBy: who(principal),
      });
      await enqueueJob(tx, { kind: ERASURE_JOB, payload: { erasureId: row.id }, maxAttempts: 10 });
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action: 'erasure.requested',
        target: { type: 'erasure', id: row.id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        // Stored as the person's pseudonym, whose key the erasure destroys.
        details: { userId: body.userId, documents: body.documents },
      });
      return row;
    });
    return erasureView(row);
  }

  async getErasure(principal: Principal, id: string): Promise<ErasureView> {
    if (principal.role !== 'owner')
      throw new Forbidden('Only an owner may read erasures.', 'owner_required');
    const row = await this.db.withTenant(principal, (tx) => findErasure(tx, id));
    if (!row) throw new NotFound('Erasure');
    return erasureView(row);
  }

  private maySee(p: Principal, row: ExportRow): boolean {
    return p.role === 'owner' || row.requested_by === who(p);
  }

  private exportView(p: Principal, r: ExportRow): ExportView {
    return {
      id: r.id,
      scope: r.scope,
      subjectUserId: r.subject_user_id,
      status: r.status,
      failureReason: r.failure_reason,
      bytes: r.archive_bytes === null ? null : Number(r.archive_bytes),
      sha256: r.archive_sha256,
      files: r.files,
      createdAt: r.created_at.toISOString(),
      completedAt: r.completed_at?.toISOString() ?? null,
      download:
        r.status === 'completed'
          ? signExportLink(this.opts.serverSecret, p.tenantId, r.id, this.opts.linkTtlSeconds)
          : null,
    };
  }
}
