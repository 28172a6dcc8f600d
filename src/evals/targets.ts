import { z } from 'zod';
import type { ApiResponse, RampartClient } from './client.js';
import type { EvalCase } from './schemas.js';
import type { SourceRef } from './scorers/retrieval.js';

/** What a target produced for a case: everything a scorer may look at. */
export interface Observation {
  /** The text output: the answer, the chat reply, the generated SQL, a search's hit texts. */
  text: string;
  /** The full JSON answer (json/jsonSchema/equals checks read it). */
  json: unknown;
  /** Documents retrieved for the question, best first. */
  retrieved?: SourceRef[];
  /** Context the answer was grounded on (faithfulness judge). */
  context?: string[];
  cited?: SourceRef[];
  rows?: unknown[][];
  goldRows?: unknown[][];
  toolsCalled?: string[];
  approvals?: number;
  costUsd: number;
  latencyMs: number;
  requestId?: string | undefined;
}

/** The target answered with an error or an unexpected shape: the case errors (the gate fails). */
export class TargetFailed extends Error {
  override readonly name = 'TargetFailed';
}

function ok(res: ApiResponse, what: string): unknown {
  if (res.status >= 200 && res.status < 300) return res.body;
  const detail = z.object({ detail: z.string() }).safeParse(res.body);
  const msg = z.object({ error: z.object({ message: z.string() }) }).safeParse(res.body);
  const why = detail.success
    ? detail.data.detail
    : msg.success
      ? msg.data.error.message
      : JSON.stringify(res.body).slice(0, 200);
  throw new TargetFailed(`${what} answered ${res.status}: ${why}`);
}
function shaped<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body);
  if (!r.success)
    throw new TargetFailed(
      `${what} answered an unexpected shape: ${r.error.message.slice(0, 200)}`,
    );
  return r.data;
}

const Ref = z.object({ documentId: z.string(), title: z.string() });
const Hits = z.object({ data: z.array(Ref.extend({ text: z.string(), score: z.number() })) });
const Answer = z.object({ answer: z.string(), citations: z.array(Ref) });
const AskInput = z.union([
  z.string().transform((question) => ({ question })),
  z.object({ question: z.string(), k: z.number().optional(), mode: z.string().optional() }),
]);
const SearchInput = z.union([
  z.string().transform((query) => ({ query })),
  z.object({ query: z.string(), k: z.number().optional(), mode: z.string().optional() }),
]);
const SqlInput = z.object({ source: z.string(), question: z.string() });
const SqlAnswer = z.object({ sql: z.string(), rows: z.array(z.array(z.unknown())) });
const Rows = z.object({ rows: z.array(z.array(z.unknown())) });
const ChatInput = z.object({
  model: z.string(),
  messages: z.array(z.object({ role: z.string(), content: z.string() })).optional(),
  prompt: z.string().optional(),
});
const ChatAnswer = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
});
const AgentInput = z.object({ agent: z.string(), input: z.string() });
const Run = z.object({
  id: z.string(),
  status: z.string(),
  output: z.unknown(),
  usage: z.object({ costUsd: z.number() }),
  pendingApprovals: z.array(z.unknown()),
});
const Events = z.object({ data: z.array(z.object({ type: z.string(), data: z.unknown() })) });

async function timed(f: () => Promise<ApiResponse>): Promise<[ApiResponse, number]> {
  const t0 = performance.now();
  const res = await f();
  return [res, performance.now() - t0];
}

/** Runs one case against its target through the client. */
export async function observe(
  client: RampartClient,
  c: EvalCase,
  opts: { agentTimeoutMs?: number } = {},
): Promise<Observation> {
  const input = (schema: z.ZodType, what: string): unknown => {
    const r = schema.safeParse(c.input);
    if (!r.success) throw new TargetFailed(`case ${c.id}: input is not a ${what} input`);
    return r.data;
  };
  switch (c.target) {
    case 'ask': {
      const body = shaped(AskInput, input(AskInput, 'ask'), 'ask input');
      const [res, latencyMs] = await timed(() => client('POST', '/v1/ask', body));
      const answer = shaped(Answer, ok(res, 'POST /v1/ask'), '/v1/ask');
      const obs: Observation = {
        text: answer.answer,
        json: res.body,
        cited: answer.citations,
        costUsd: 0,
        latencyMs,
        requestId: res.requestId,
      };
      // Rank metrics need the ranking: the same question as a search (it does not change the answer).
      if (c.expect.sources || c.expect.faithfulness !== undefined) {
        const hits = shaped(
          Hits,
          ok(
            await client('POST', '/v1/search', {
              query: body.question,
              k: Math.max(10, c.expect.k ?? 10),
            }),
            'POST /v1/search',
          ),
          '/v1/search',
        );
        obs.retrieved = hits.data;
        obs.context = hits.data.map((h) => h.text);
      }
      return obs;
    }
    case 'search': {
      const body = shaped(SearchInput, input(SearchInput, 'search'), 'search input');
      const [res, latencyMs] = await timed(() => client('POST', '/v1/search', { k: 10, ...body }));
      const hits = shaped(Hits, ok(res, 'POST /v1/search'), '/v1/search');
      return {
        text: hits.data.map((h) => h.text).join('\n'),
        json: res.body,
        retrieved: hits.data,
        context: hits.data.map((h) => h.text),
        costUsd: 0,
        latencyMs,
        requestId: res.requestId,
      };
    }
    case 'sql': {
      const body = shaped(SqlInput, input(SqlInput, 'sql'), 'sql input');
      const [res, latencyMs] = await timed(() => client('POST', '/v1/sql/ask', body));
      const answer = shaped(SqlAnswer, ok(res, 'POST /v1/sql/ask'), '/v1/sql/ask');
      const obs: Observation = {
        text: answer.sql,
        json: res.body,
        rows: answer.rows,
        costUsd: 0,
        latencyMs,
        requestId: res.requestId,
      };
      if (c.expect.sql) {
        const gold = await client('POST', '/v1/sql/query', {
          source: body.source,
          sql: c.expect.sql,
        });
        obs.goldRows = shaped(Rows, ok(gold, 'the gold SQL'), '/v1/sql/query').rows;
      }
      return obs;
    }
    case 'chat': {
      const body = shaped(ChatInput, input(ChatInput, 'chat'), 'chat input');
      const messages = body.messages ?? [{ role: 'user', content: body.prompt ?? '' }];
      const [res, latencyMs] = await timed(() =>
        client('POST', '/v1/chat/completions', { model: body.model, messages, temperature: 0 }),
      );
      const answer = shaped(
        ChatAnswer,
        ok(res, 'POST /v1/chat/completions'),
        '/v1/chat/completions',
      );
      const text = answer.choices[0]?.message.content ?? '';
      return { text, json: parseMaybeJson(text), costUsd: 0, latencyMs, requestId: res.requestId };
    }
    case 'agent':
      return observeAgent(
        client,
        shaped(AgentInput, input(AgentInput, 'agent'), 'agent input'),
        opts.agentTimeoutMs ?? 120_000,
      );
  }
}

/** A chat reply that is JSON is scored as JSON; otherwise as its text. */
function parseMaybeJson(text: string): unknown {
  // Prose is the common case: skip the parse (a thrown SyntaxError builds a stack each time).
  if (!/^\s*[[{"\d-]/u.test(text)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function observeAgent(
  client: RampartClient,
  input: { agent: string; input: string },
  timeoutMs: number,
): Promise<Observation> {
  const t0 = performance.now();
  const created = await client('POST', `/v1/agents/${encodeURIComponent(input.agent)}/runs`, {
    input: input.input,
  });
  let run = shaped(Run, ok(created, 'starting the run'), 'the run');
  // A run paused for approval is an outcome to score (approvalsRequested), not a wait.
  while (!['succeeded', 'failed', 'cancelled', 'awaiting_approval'].includes(run.status)) {
    if (performance.now() - t0 > timeoutMs)
      throw new TargetFailed(`run ${run.id} did not finish within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
    run = shaped(Run, ok(await client('GET', `/v1/runs/${run.id}`), 'reading the run'), 'the run');
  }
  const latencyMs = performance.now() - t0;
  const events = shaped(
    Events,
    ok(await client('GET', `/v1/runs/${run.id}/events`), 'reading run events'),
    'run events',
  );
  const toolsCalled = events.data
    .filter((e) => e.type === 'tool.call.requested')
    .map((e) => z.object({ tool: z.string() }).safeParse(e.data))
    .flatMap((r) => (r.success ? [r.data.tool] : []));
  const approvals = events.data.filter((e) => e.type === 'approval.requested').length;
  const text = typeof run.output === 'string' ? run.output : JSON.stringify(run.output ?? null);
  return {
    text,
    json: run.output,
    toolsCalled,
    approvals,
    costUsd: run.usage.costUsd,
    latencyMs,
    requestId: created.requestId,
  };
}
