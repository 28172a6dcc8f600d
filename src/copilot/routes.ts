import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { DefinitionService } from './definitions.js';
import type { RunService } from './runs-service.js';
import type { EpisodeReplayer } from './episodes.js';
import {
  AgentView,
  CreateAgentBody,
  CreateRunBody,
  CreateToolBody,
  DecisionBody,
  EventsQuery,
  ListRunsQuery,
  PatchAgentBody,
  PatchToolBody,
  ReplayBody,
  ReplayView,
  RunEventView,
  RunView,
  ToolView,
} from './schemas.js';

const IdParams = z.object({ id: z.uuid() });
const ToolIdParams = z.object({ id: z.string().min(1).max(64) });
const ApprovalParams = z.object({ id: z.uuid(), callId: z.string().min(1).max(200) });
const TAGS = ['copilot'];

function wantsStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/event-stream');
}

function sse(reply: FastifyReply, frames: AsyncGenerator<string>): Readable {
  reply.header('content-type', 'text/event-stream; charset=utf-8');
  reply.header('cache-control', 'no-cache');
  reply.header('x-accel-buffering', 'no');
  return Readable.from(frames);
}

function lastEventId(request: FastifyRequest, fallback: number | undefined): number {
  const h = request.headers['last-event-id'];
  const n = typeof h === 'string' && /^\d{1,9}$/.test(h.trim()) ? Number(h.trim()) : undefined;
  return n ?? fallback ?? 0;
}

/** Agents, tools (HTTP actions), runs, their events and approvals. */
export function copilotRoutes(
  defs: DefinitionService,
  runs: RunService,
  episodes: EpisodeReplayer,
): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/agents',
      auth: 'tenant',
      permission: 'agents:manage',
      summary:
        'Define an agent: instructions, a model alias, its tools and their policies (audited).',
      tags: TAGS,
      body: CreateAgentBody,
      status: 201,
      response: { 201: AgentView },
      handler: ({ principal, body, meta }) => defs.createAgent(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/agents',
      auth: 'tenant',
      permission: 'agents:run',
      summary: "The tenant's agents.",
      tags: TAGS,
      response: { 200: z.object({ data: z.array(AgentView) }) },
      handler: ({ principal }) => defs.listAgents(principal),
    }),
    route({
      method: 'GET',
      url: '/v1/agents/:id',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'One agent.',
      tags: TAGS,
      params: IdParams,
      response: { 200: AgentView },
      handler: ({ principal, params }) => defs.getAgent(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/agents/:id',
      auth: 'tenant',
      permission: 'agents:manage',
      summary:
        'Change an agent; runs already started keep the definition they started with (audited).',
      tags: TAGS,
      params: IdParams,
      body: PatchAgentBody,
      response: { 200: AgentView },
      handler: ({ principal, params, body, meta }) =>
        defs.updateAgent(principal, params.id, body, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/agents/:id',
      auth: 'tenant',
      permission: 'agents:manage',
      summary: 'Delete an agent; its runs and their event logs stay (audited).',
      tags: TAGS,
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => defs.deleteAgent(principal, params.id, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/tools',
      auth: 'tenant',
      permission: 'agents:manage',
      summary:
        'Define an HTTP action agents may call; its credential is encrypted and never shown (audited).',
      tags: TAGS,
      body: CreateToolBody,
      status: 201,
      response: { 201: ToolView },
      handler: ({ principal, body, meta }) => defs.createTool(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/tools',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'The built-in tools and the tenant’s HTTP actions.',
      tags: TAGS,
      response: { 200: z.object({ data: z.array(ToolView) }) },
      handler: ({ principal }) => defs.listTools(principal),
    }),
    route({
      method: 'GET',
      url: '/v1/tools/:id',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'One tool (a built-in by its name, an HTTP action by its id).',
      tags: TAGS,
      params: ToolIdParams,
      response: { 200: ToolView },
      handler: ({ principal, params }) => defs.getTool(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/tools/:id',
      auth: 'tenant',
      permission: 'agents:manage',
      summary: 'Change an HTTP action; `credential: null` removes its credential (audited).',
      tags: TAGS,
      params: IdParams,
      body: PatchToolBody,
      response: { 200: ToolView },
      handler: ({ principal, params, body, meta }) =>
        defs.updateTool(principal, params.id, body, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/tools/:id',
      auth: 'tenant',
      permission: 'agents:manage',
      summary: 'Delete an HTTP action (audited).',
      tags: TAGS,
      params: IdParams,
      status: 204,
      handler: ({ principal, params, meta }) => defs.deleteTool(principal, params.id, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/agents/:id/runs',
      auth: 'tenant',
      permission: 'agents:run',
      summary:
        'Start a run (Idempotency-Key honoured); `stream: true` answers with its events as server-sent events.',
      tags: TAGS,
      params: IdParams,
      body: CreateRunBody,
      status: 201,
      response: { 201: RunView },
      handler: async ({ principal, params, body, request, reply }) => {
        const key = request.headers['idempotency-key'];
        const { run } = await runs.create(
          principal,
          params.id,
          body,
          typeof key === 'string' ? key : undefined,
        );
        if (body.stream) return sse(reply, runs.stream(principal, run.id, 0));
        return run;
      },
    }),
    route({
      method: 'GET',
      url: '/v1/runs',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'Runs the caller may see (their own; every run for approvers), newest first.',
      tags: TAGS,
      query: ListRunsQuery,
      response: { 200: z.object({ data: z.array(RunView) }) },
      handler: ({ principal, query }) => runs.list(principal, query),
    }),
    route({
      method: 'GET',
      url: '/v1/runs/:id',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'A run: status, output, usage, steps and the calls waiting for approval.',
      tags: TAGS,
      params: IdParams,
      response: { 200: RunView },
      handler: ({ principal, params }) => runs.get(principal, params.id),
    }),
    route({
      method: 'GET',
      url: '/v1/runs/:id/events',
      auth: 'tenant',
      permission: 'agents:run',
      summary:
        "A run's event log; with Accept: text/event-stream, streamed live (resume with Last-Event-ID; `deltas=true` adds token deltas).",
      tags: TAGS,
      params: IdParams,
      query: EventsQuery,
      response: { 200: z.object({ data: z.array(RunEventView) }) },
      handler: async ({ principal, params, query, request, reply }) => {
        if (!wantsStream(request)) return runs.events(principal, params.id, query.after ?? 0);
        await runs.assertVisible(principal, params.id);
        return sse(
          reply,
          runs.stream(principal, params.id, lastEventId(request, query.after), {
            deltas: query.deltas === 'true',
          }),
        );
      },
    }),
    route({
      method: 'POST',
      url: '/v1/runs/:id/approvals/:callId',
      auth: 'tenant',
      permission: 'agents:approve',
      summary: 'Approve or deny a tool call waiting for a person; the run resumes (audited).',
      tags: TAGS,
      params: ApprovalParams,
      body: DecisionBody,
      response: { 200: RunView },
      handler: ({ principal, params, body, meta }) =>
        runs.decide(principal, params.id, params.callId, body, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/runs/:id/replay',
      auth: 'tenant',
      permission: 'evals:run',
      summary:
        'Replay an ended run from its event log (exact, or parametric with another model or instructions); no tool is called: outputs come from the recording.',
      tags: TAGS,
      params: IdParams,
      body: ReplayBody,
      response: { 200: ReplayView },
      handler: ({ principal, params, body }) => episodes.replay(principal, params.id, body),
    }),
    route({
      method: 'POST',
      url: '/v1/runs/:id/cancel',
      auth: 'tenant',
      permission: 'agents:run',
      summary: 'Cancel a run; the side effects it already made are compensated in reverse order.',
      tags: TAGS,
      params: IdParams,
      status: 202,
      response: { 202: RunView },
      handler: ({ principal, params }) => runs.cancel(principal, params.id),
    }),
  ];
}
