import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { route, type AnyRoute } from '../platform/http/route.js';
import { injectClient, type Inject, type RampartClient } from './client.js';
import {
  FeedbackBody,
  FeedbackSummary,
  SummaryQuery,
  type FeedbackService,
} from './feedback-service.js';
import { DatasetBody, DatasetSchema } from './schemas.js';
import { RunView, StartRunBody, type EvalService } from './service.js';

const TAGS = ['evals'];
const IdParams = z.object({ id: z.string().min(1).max(100) });
const RunIdParams = z.object({ id: z.uuid() });

/**
 * The client a server-side run uses: the app itself, called with the caller's own credential,
 * so every case passes the same authentication, permissions, limits and metering as the caller.
 */
function callerClient(inject: Inject, request: FastifyRequest): RampartClient {
  const credentials: Record<string, string> = {};
  const { authorization, cookie } = request.headers;
  if (typeof authorization === 'string') credentials.authorization = authorization;
  if (typeof cookie === 'string') credentials.cookie = cookie;
  return injectClient(inject, credentials);
}

/** Stored datasets, eval runs and feedback. */
export function evalRoutes(
  evals: EvalService,
  feedback: FeedbackService,
  inject: Inject,
): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/evals/datasets',
      auth: 'tenant',
      permission: 'knowledge:manage',
      summary:
        'Store a golden set; a change stores a new version (unchanged cases answer 200 with the current one).',
      tags: TAGS,
      body: DatasetBody,
      response: { 200: DatasetSchema, 201: DatasetSchema },
      handler: async ({ principal, body, meta, reply }) => {
        const { created, dataset } = await evals.saveDataset(principal, body, meta);
        reply.code(created ? 201 : 200);
        return reply.send(dataset);
      },
    }),
    route({
      method: 'GET',
      url: '/v1/evals/datasets',
      auth: 'tenant',
      permission: 'evals:read',
      summary: "The tenant's golden sets, newest version of each.",
      tags: TAGS,
      response: { 200: z.object({ data: z.array(DatasetSchema) }) },
      handler: async ({ principal }) => ({ data: await evals.listDatasets(principal) }),
    }),
    route({
      method: 'GET',
      url: '/v1/evals/datasets/:id',
      auth: 'tenant',
      permission: 'evals:read',
      summary: 'A golden set with its cases: a version by id, or the newest version by name.',
      tags: TAGS,
      params: IdParams,
      response: { 200: DatasetSchema },
      handler: ({ principal, params }) => evals.getDataset(principal, params.id),
    }),
    route({
      method: 'POST',
      url: '/v1/evals/runs',
      auth: 'tenant',
      permission: 'evals:run',
      summary:
        'Run a stored golden set as the caller, score and gate it; answers when it is scored (audited).',
      tags: TAGS,
      body: StartRunBody,
      status: 201,
      response: { 201: RunView },
      handler: ({ principal, body, meta, request }) =>
        evals.startRun(principal, body, callerClient(inject, request), meta),
    }),
    route({
      method: 'GET',
      url: '/v1/evals/runs/:id',
      auth: 'tenant',
      permission: 'evals:read',
      summary:
        'An eval run: per-case results, totals and the gate verdict (its starter or an admin).',
      tags: TAGS,
      params: RunIdParams,
      response: { 200: RunView },
      handler: ({ principal, params }) => evals.getRun(principal, params.id),
    }),
    route({
      method: 'POST',
      url: '/v1/feedback',
      auth: 'tenant',
      permission: 'documents:read',
      summary: 'Rate an answer of /v1/ask by its x-request-id (its asker, or an admin; audited).',
      tags: TAGS,
      body: FeedbackBody,
      status: 201,
      response: { 201: z.object({ requestId: z.string(), score: z.number() }) },
      handler: ({ principal, body, meta }) => feedback.submit(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/feedback/summary',
      auth: 'tenant',
      permission: 'usage:read',
      summary: 'Answers, unsupported share, ratings and tags over the last `days` days.',
      tags: TAGS,
      query: SummaryQuery,
      response: { 200: FeedbackSummary },
      handler: ({ principal, query }) => feedback.summary(principal, query.days),
    }),
  ];
}
