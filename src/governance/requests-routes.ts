import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import { safeString } from '../platform/http/safe-string.js';
import {
  DataPolicyPatch,
  DataPolicySchema,
  type DataPolicyService,
} from './data-policy-service.js';
import type { RequestRecordService } from './requests-service.js';

const ChunkSchema = z.object({
  chunkId: z.string(),
  documentId: z.string(),
  title: z.string(),
  score: z.number().nullable(),
  contentHash: z.string().describe('SHA-256 of the chunk text the answer was given'),
  cited: z.boolean(),
  status: z
    .enum(['unchanged', 'changed', 'deleted'])
    .describe('what became of the chunk since the answer'),
  currentHash: z.string().nullable(),
});

export const ReconstructionSchema = z.object({
  requestId: z.string(),
  kind: z.enum(['ask', 'sql_ask', 'copilot_run']),
  createdAt: z.string(),
  userId: z.string().nullable(),
  keyId: z.string().nullable(),
  question: z.string(),
  chunks: z.array(ChunkSchema),
  promptTemplate: z.string().nullable(),
  promptVersion: z.string().nullable(),
  promptRendered: z
    .unknown()
    .describe('the messages sent to the model; null when the tenant does not store them'),
  modelAlias: z.string().nullable(),
  provider: z.string().nullable(),
  model: z.string().nullable(),
  answer: z.unknown(),
  citations: z.array(z.unknown()),
  promptTokens: z.number(),
  completionTokens: z.number(),
  costUsd: z.number(),
  redactions: z.number().describe('PII values masked in the prompts before they were sent'),
  timings: z.record(z.string(), z.number()),
  flagged: z
    .array(
      z.object({
        chunkId: z.string(),
        documentId: z.string(),
        status: z.enum(['unchanged', 'changed', 'deleted']),
      }),
    )
    .describe('cited chunks whose content changed or was deleted since the answer'),
});

const RequestIdParams = z.object({
  requestId: safeString()
    .min(1)
    .max(200)
    .describe("an x-request-id of /v1/ask or /v1/sql/ask, or 'run:<run id>'"),
});

/** Reconstruction (GET /v1/requests/:requestId) and the tenant's data policy. */
export function governanceRequestRoutes(
  records: RequestRecordService,
  dataPolicy: DataPolicyService,
): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/v1/requests/:requestId',
      auth: 'tenant',
      permission: 'audit:read',
      summary:
        'Reconstruct an answer: question, retrieved chunks (flagged when changed or deleted since), prompt, model, answer, citations, tokens, cost and timings.',
      tags: ['governance'],
      params: RequestIdParams,
      response: { 200: ReconstructionSchema },
      handler: ({ principal, params }) => records.reconstruct(principal, params.requestId),
    }),
    route({
      method: 'GET',
      url: '/v1/governance/data-policy',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary:
        "The tenant's data policy: whether request records keep rendered prompts, and whether every non-self-hosted provider must redact PII.",
      tags: ['governance'],
      response: { 200: DataPolicySchema },
      handler: ({ principal }) => dataPolicy.get(principal),
    }),
    route({
      method: 'PUT',
      url: '/v1/governance/data-policy',
      auth: 'tenant',
      permission: 'gateway:manage',
      summary: "Change the tenant's data policy (audited; the gateway applies it at once).",
      tags: ['governance'],
      body: DataPolicyPatch,
      response: { 200: DataPolicySchema },
      handler: ({ principal, body, meta }) => dataPolicy.update(principal, body, meta),
    }),
  ];
}
