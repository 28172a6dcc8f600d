import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { SubjectRightsService } from './subject-service.js';

const TAGS = ['governance'];
const IdParams = z.object({ id: z.uuid() });

const ExportBody = z.object({
  subject: z.union([
    z.object({ userId: z.uuid() }).strict(),
    z.object({ tenant: z.literal(true) }).strict(),
  ]),
});
const ExportView = z.object({
  id: z.uuid(),
  scope: z.enum(['user', 'tenant']),
  subjectUserId: z.uuid().nullable(),
  status: z.enum(['queued', 'completed', 'failed']),
  failureReason: z.string().nullable(),
  bytes: z.number().nullable(),
  sha256: z.string().nullable(),
  files: z.number().nullable(),
  createdAt: z.string(),
  completedAt: z.string().nullable(),
  download: z.object({ url: z.string(), expiresAt: z.string() }).nullable(),
});
const ArchiveQuery = z.object({
  tenant: z.uuid(),
  expires: z.coerce.number().int().positive(),
  sig: z.string().regex(/^[0-9a-f]{64}$/),
});
const ErasureBody = z
  .object({
    userId: z.uuid(),
    documents: z.enum(['delete', 'transfer']),
    transferTo: z.uuid().optional(),
  })
  .strict();
const ErasureView = z.object({
  id: z.uuid(),
  status: z.enum(['queued', 'running', 'completed', 'failed']),
  documents: z.enum(['delete', 'transfer']),
  transferTo: z.uuid().nullable(),
  pseudonym: z.uuid(),
  failureReason: z.string().nullable(),
  steps: z.array(z.string()),
  counts: z.record(z.string(), z.number()),
  createdAt: z.string(),
  completedAt: z.string().nullable(),
});

/** Data subject rights: exports and erasures (docs/governance.md, "Export and erasure"). */
export function subjectRoutes(service: SubjectRightsService): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/exports',
      auth: 'tenant',
      permission: 'subjects:export',
      summary:
        'Export one person (an owner, or the person themself) or the whole tenant (owner): a job builds a tar archive (audited).',
      tags: TAGS,
      body: ExportBody,
      status: 202,
      response: { 202: ExportView },
      handler: ({ principal, body, meta }) => service.requestExport(principal, body.subject, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/exports/:id',
      auth: 'tenant',
      permission: 'subjects:export',
      summary: 'An export: its status and, once completed, a signed download link that expires.',
      tags: TAGS,
      params: IdParams,
      response: { 200: ExportView },
      handler: ({ principal, params }) => service.getExport(principal, params.id),
    }),
    route({
      method: 'GET',
      url: '/v1/exports/:id/archive',
      auth: 'none',
      permission: undefined,
      summary:
        'Download an export archive (application/x-tar) with the signed link GET /v1/exports/:id gave; 410 once expired (audited).',
      tags: TAGS,
      params: IdParams,
      query: ArchiveQuery,
      handler: ({ params, query, meta, reply }) =>
        service.download(
          { exportId: params.id, tenantId: query.tenant, expires: query.expires, sig: query.sig },
          meta,
          reply,
        ),
    }),
    route({
      method: 'POST',
      url: '/v1/erasures',
      auth: 'tenant',
      permission: 'subjects:erase',
      summary:
        'Erase a person from the tenant (owner): a job deletes or transfers their documents and removes them everywhere (audited).',
      tags: TAGS,
      body: ErasureBody,
      status: 202,
      response: { 202: ErasureView },
      handler: ({ principal, body, meta }) => service.requestErasure(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/erasures/:id',
      auth: 'tenant',
      permission: 'subjects:erase',
      summary: 'An erasure: its status, the steps done and the rows it changed per table.',
      tags: TAGS,
      params: IdParams,
      response: { 200: ErasureView },
      handler: ({ principal, params }) => service.getErasure(principal, params.id),
    }),
  ];
}
