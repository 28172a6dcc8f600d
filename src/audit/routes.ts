import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';
import type { Database } from '../platform/db/database.js';
import { route, type AnyRoute } from '../platform/http/route.js';
import { listAuditEvents, verifyTenantChain } from './service.js';

const AuditEventSchema = z.object({
  id: z.string(),
  seq: z.number(),
  occurredAt: z.string(),
  actor: z.object({ type: z.string(), id: z.string().nullable() }),
  action: z.string().describe('canonical name, e.g. document.created'),
  storedAction: z
    .string()
    .describe('the name as written and hashed; differs from action for events of older versions'),
  target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
  outcome: z.string(),
  ip: z.string().nullable(),
  requestId: z.string().nullable(),
  details: z.unknown(),
  hash: z.string(),
  prevHash: z.string(),
});

const ListQuery = z.object({
  from: z.iso
    .datetime({ offset: true })
    .describe('events at or after this time (inclusive)')
    .transform((s) => new Date(s))
    .optional(),
  to: z.iso
    .datetime({ offset: true })
    .describe('events before this time (exclusive)')
    .transform((s) => new Date(s))
    .optional(),
  actorId: safeString().max(200).optional(),
  actorType: z.enum(['user', 'api_key', 'operator', 'anonymous', 'system']).optional(),
  action: safeString()
    .max(200)
    .describe('canonical or legacy name; matches events stored under either')
    .optional(),
  cursor: safeString().max(512).describe('nextCursor from the previous page').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

const VerifyQuery = z.object({
  expectHead: safeString()
    .max(100)
    .describe('a head published earlier (hash, or seq:hash) the chain must still contain')
    .optional(),
});

const ChainReportSchema = z.object({
  status: z.enum(['intact', 'broken', 'truncated']),
  ok: z.boolean(),
  events: z.number().describe('events verified (before the break, when broken)'),
  head: z.string().nullable().describe('hash of the last verified event; null when broken'),
  brokenAt: z
    .object({ seq: z.number(), id: z.string(), reason: z.string() })
    .nullable()
    .describe('the first event that does not match'),
  missingHead: z
    .object({ seq: z.number().nullable(), hash: z.string() })
    .nullable()
    .describe('the expected head the intact chain no longer reaches'),
  verifiedAt: z.string(),
});

export function auditRoutes(db: Database): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/audit-events',
      auth: 'tenant',
      permission: 'audit:read',
      summary:
        "The tenant's audit events, newest first (filter by time range, actor, action; cursor pagination).",
      tags: ['audit'],
      query: ListQuery,
      response: {
        200: z.object({ data: z.array(AuditEventSchema), nextCursor: z.string().nullable() }),
      },
      handler: ({ principal, query }) => listAuditEvents(db, principal, query),
    }),
    route({
      method: 'GET',
      url: '/v1/audit/verify',
      auth: 'tenant',
      permission: 'audit:read',
      summary:
        "Recomputes the tenant's audit hash chain from its first event and reports whether it is intact, where it breaks, or that it no longer reaches an expected head.",
      tags: ['audit'],
      query: VerifyQuery,
      response: { 200: ChainReportSchema },
      handler: ({ principal, query }) => verifyTenantChain(db, principal, query.expectHead),
    }),
  ];
}
