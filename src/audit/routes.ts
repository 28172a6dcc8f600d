import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';
import type { Database } from '../platform/db/database.js';
import { route, type AnyRoute } from '../platform/http/route.js';
import { listAuditEvents } from './service.js';

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
  ];
}
