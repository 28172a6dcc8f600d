import { z } from 'zod';
import { InvalidInput } from '../../platform/http/errors.js';
import { route, type AnyRoute } from '../../platform/http/route.js';
import type { UsageRecorder } from './usage.js';

const DAY_MS = 86_400_000;

const UsageQuery = z.object({
  groupBy: z.enum(['day', 'key', 'model']).default('day'),
  /** Inclusive start; defaults to 30 days before `to`. */
  from: z.iso.datetime({ offset: true }).optional(),
  /** Exclusive end; defaults to now. */
  to: z.iso.datetime({ offset: true }).optional(),
});

const UsageBucket = z.object({
  day: z.string().optional(),
  key_id: z.string().nullable().optional(),
  model: z.string().nullable().optional(),
  requests: z.number(),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  cached_tokens: z.number(),
  cost_usd: z.number(),
});

const UsageResponse = z.object({
  object: z.literal('list'),
  group_by: z.enum(['day', 'key', 'model']),
  from: z.string(),
  to: z.string(),
  data: z.array(UsageBucket),
});

const FIELD = { day: 'day', key: 'key_id', model: 'model' } as const;

/** GET /v1/usage: the tenant's gateway usage, summed per UTC day, API key or model. */
export function gatewayUsageRoutes(usage: UsageRecorder): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/usage',
      auth: 'tenant',
      permission: 'usage:read',
      summary:
        'Gateway usage over [from, to): requests, prompt/completion/cached tokens and cost, grouped by day, key or model.',
      tags: ['gateway'],
      query: UsageQuery,
      response: { 200: UsageResponse },
      handler: async ({ principal, query }) => {
        const to = query.to ? new Date(query.to) : new Date();
        const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
        if (from >= to)
          throw new InvalidInput('query.from: must be before query.to', {
            errors: [{ field: 'query.from', message: 'must be before to' }],
          });
        const rows = await usage.summary(principal, query.groupBy, from, to);
        return {
          object: 'list' as const,
          group_by: query.groupBy,
          from: from.toISOString(),
          to: to.toISOString(),
          data: rows.map(({ group, ...sums }) => ({ [FIELD[query.groupBy]]: group, ...sums })),
        };
      },
    }),
  ];
}
