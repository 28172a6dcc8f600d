import { McpServer, ResourceTemplate } from '@modelcontextprotocol/server';
import type { CallToolResult } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CreateRunBody, TERMINAL, type RunService, type RunView } from '../../copilot/index.js';
import { ChatCompletionBody, type ChatMessage, type ModelCalls } from '../../gateway/index.js';
import {
  AskBody,
  DocumentIdParams,
  DocumentListQuery,
  SearchBody,
  type AnswerService,
  type DocumentService,
  type SearchService,
} from '../../knowledge/index.js';
import type { Permission } from '../../platform/http/permissions-catalogue.js';
import type { Principal, RequestMeta } from '../../platform/http/principal.js';
import {
  QueryBody,
  SqlAskBody,
  type SourceService,
  type SqlQueryService,
} from '../../sql/index.js';
import { InvalidInput } from '../../platform/http/errors.js';
import { toolCall } from './results.js';

/** The services the MCP tools call: the same ones behind the REST routes. */
export interface McpServices {
  documents: DocumentService;
  search: SearchService;
  answers: AnswerService;
  sqlQueries: SqlQueryService;
  sqlSources: SourceService;
  runs: RunService;
  calls: ModelCalls;
  logger: Logger;
  /** How long run_agent waits for the run to finish. */
  runWaitMs: number;
}

export const SERVER_INFO = { name: 'rampart', version: '0.1.0' };

const RunAgentInput = CreateRunBody.omit({ stream: true }).extend({
  agentId: z.uuid().describe('The agent to run (GET /v1/agents lists them).'),
});
const ChatInput = ChatCompletionBody.omit({ stream: true, stream_options: true });
const ChatMessages = z.array(
  z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }),
);

const readOnly = { readOnlyHint: true, openWorldHint: false } as const;

/**
 * The MCP server one request is served by, built for its caller: a tool the caller's role lacks
 * the permission for is not registered, so it is neither listed nor callable. Every tool calls
 * the same service as its REST route, as the caller, under RLS.
 */
export function serverFor(principal: Principal, meta: RequestMeta, s: McpServices): McpServer {
  const server = new McpServer(SERVER_INFO, {
    // Lists differ per tenant and role: no shared cache may keep them.
    cacheHints: {
      'tools/list': { cacheScope: 'private', ttlMs: 0 },
      'resources/list': { cacheScope: 'private', ttlMs: 0 },
      'resources/read': { cacheScope: 'private', ttlMs: 0 },
    },
    instructions:
      "Rampart: search and ask the tenant's knowledge base, query its SQL sources, run its agents and call its models, as the credential's user.",
  });
  const may = (p: Permission) => principal.permissions.has(p);
  const run = (call: () => Promise<unknown>): Promise<CallToolResult> =>
    toolCall(meta.requestId, s.logger, call);

  if (may('documents:read')) {
    server.registerTool(
      'search_documents',
      {
        description:
          'Search the passages of documents you may read (hybrid, vector or keyword), as POST /v1/search.',
        inputSchema: SearchBody,
        annotations: readOnly,
      },
      (body) => run(() => s.search.search(principal, body, meta.requestId)),
    );
    server.registerTool(
      'ask',
      {
        description:
          'Answer a question from documents you may read, with citations (POST /v1/ask).',
        inputSchema: AskBody,
        annotations: readOnly,
      },
      (body) => run(() => s.answers.ask(principal, body, meta.requestId)),
    );
    server.registerTool(
      'get_document',
      {
        description: "A document's metadata and status (GET /v1/documents/{id}).",
        inputSchema: DocumentIdParams,
        annotations: readOnly,
      },
      ({ id }) => run(() => s.documents.get(principal, id)),
    );
    server.registerTool(
      'list_documents',
      {
        description: 'Documents you may read, newest first (GET /v1/documents).',
        inputSchema: DocumentListQuery,
        annotations: readOnly,
      },
      (query) => run(() => s.documents.list(principal, query)),
    );
    server.registerResource(
      'document',
      new ResourceTemplate('rampart://documents/{id}', {
        list: async () => {
          const { data } = await s.documents.list(principal, { limit: 50, status: 'ready' });
          return {
            resources: data.map((d) => ({
              uri: `rampart://documents/${d.id}`,
              name: d.title,
              mimeType: 'text/plain',
            })),
          };
        },
      }),
      {
        description: 'A document as indexed (its chunks’ text, PII-masked).',
        mimeType: 'text/plain',
      },
      async (uri, vars) => {
        const id = DocumentIdParams.parse({ id: vars.id }).id;
        const chunks = await s.documents.chunks(principal, id);
        return {
          contents: [
            { uri: uri.href, mimeType: 'text/plain', text: chunks.map((c) => c.text).join('\n\n') },
          ],
        };
      },
    );
  }

  if (may('sql:query')) {
    server.registerTool(
      'sql_query',
      {
        description:
          'Run one read-only SELECT on a SQL source, under its row filters and masks (POST /v1/sql/query).',
        inputSchema: QueryBody,
        annotations: readOnly,
      },
      (body) => run(() => s.sqlQueries.execute(principal, body, meta)),
    );
    server.registerTool(
      'sql_ask',
      {
        description:
          'Ask a question of a SQL source in plain language: the model writes the SQL, Rampart checks and runs it (POST /v1/sql/ask).',
        inputSchema: SqlAskBody,
        annotations: readOnly,
      },
      (body) => run(() => s.sqlQueries.ask(principal, body, meta)),
    );
    server.registerTool(
      'list_sql_sources',
      {
        description: 'The SQL sources you may query (GET /v1/sql/sources).',
        annotations: readOnly,
      },
      () => run(async () => ({ data: await s.sqlSources.list(principal) })),
    );
  }

  if (may('agents:run'))
    server.registerTool(
      'run_agent',
      {
        description:
          "Start a run of an agent and wait a while for it: returns the run's id and status, and its output when it finished in time. Tool calls that need approval wait for it in Rampart.",
        inputSchema: RunAgentInput,
        annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
      },
      ({ agentId, input }) =>
        run(async () => {
          const { run } = await s.runs.create(principal, agentId, { input }, undefined);
          return summary(await waitForRun(s, principal, run));
        }),
    );

  if (may('gateway:invoke'))
    server.registerTool(
      'chat',
      {
        description:
          'A chat completion through one of the tenant’s model aliases (as POST /v1/chat/completions, without streaming).',
        inputSchema: ChatInput,
        annotations: { readOnlyHint: true, openWorldHint: true },
      },
      (body) =>
        run(async () => {
          const messages = ChatMessages.safeParse(body.messages);
          if (!messages.success)
            throw new InvalidInput('messages: each needs a role and text content.', {
              errors: [{ field: 'messages', message: messages.error.message }],
            });
          const outcome = await s.calls.chat(
            principal,
            { model: { alias: body.model }, messages: messages.data satisfies ChatMessage[] },
            { requestId: meta.requestId },
          );
          return { content: outcome.content, usage: outcome.usage ?? null };
        }),
    );
  return server;
}

function summary(r: RunView): Record<string, unknown> {
  return {
    runId: r.id,
    status: r.status,
    output: TERMINAL.has(r.status) ? r.output : null,
    failureReason: r.failureReason,
    pendingApprovals: r.pendingApprovals.map((a) => ({ callId: a.callId, tool: a.tool })),
  };
}

/** Polls the run until it ends, waits for an approval, or runWaitMs passes. */
async function waitForRun(s: McpServices, p: Principal, first: RunView): Promise<RunView> {
  let r = first;
  const until = Date.now() + s.runWaitMs;
  while (!TERMINAL.has(r.status) && r.status !== 'awaiting_approval' && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    r = await s.runs.get(p, r.id);
  }
  return r;
}
