import { z } from 'zod';
import { UpstreamFailed } from '../../platform/http/errors.js';
import type { Principal } from '../../platform/http/principal.js';
import { ClientCancel, type CancelSignal } from './cancel.js';
import { readChatStream } from './in-process-stream.js';
import type { DirectTarget, GatewayService } from './invoke-service.js';
import { modelNotFound } from './planner.js';
import type { ProviderConfig } from '../providers/types.js';

/**
 * How an in-process caller names a model: a tenant alias (routed, limited and priced exactly like
 * a call to /v1/chat/completions), or a platform provider and its upstream model (a platform
 * default the operator configured, still metered and budgeted for the caller's tenant).
 */
export type ModelRef = { alias: string } | { platform: string; model: string };

export interface CallMeta {
  /** Recorded on the usage row (e.g. the HTTP request's id, or `job:<id>`). */
  requestId: string;
  /** Past this, the call is abandoned and fails with 504 upstream_timeout. */
  timeoutMs?: number | undefined;
}

/** A function call the model asked for (OpenAI's `tool_calls` item); `arguments` is JSON text. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A function the model may call (OpenAI's `tools` item); `parameters` is a JSON Schema. */
export interface ToolSpec {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

/** A chat message in OpenAI's shape, including an assistant's tool calls and their results. */
export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ChatCall {
  model: ModelRef;
  messages: ChatMessage[];
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  tools?: ToolSpec[] | undefined;
  toolChoice?: 'auto' | 'none' | 'required' | undefined;
  /**
   * With it, the call streams: each piece of the answer's text is handed to it as it arrives
   * (the outcome is still the whole answer, its tool calls assembled from their deltas).
   */
  onDelta?: ((text: string) => void) | undefined;
}

/** Token counts as the provider reported them (or as Rampart estimated them). */
export interface CallUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface ChatOutcome {
  /** The first choice's text; null when the model answered none (e.g. only a tool call). */
  content: string | null;
  usage: CallUsage | undefined;
  /** The OpenAI-shaped response body, whatever the provider. */
  body: Record<string, unknown>;
  /** The first choice's tool calls (empty when it made none). */
  toolCalls: ToolCall[];
  /** What the call cost the tenant at its prices (0 for a cache hit or an unpriced model). */
  costUsd: number;
  /** The provider and upstream model that answered (null for a cache hit). */
  provider: string | null;
  model: string | null;
  /** PII values masked in the prompt before it was sent (the provider's data policy). */
  redactions: number;
}

export interface EmbeddingsCall {
  model: ModelRef;
  input: readonly string[];
}

export interface EmbeddingsOutcome {
  /** One vector per input, in input order. */
  vectors: number[][];
  usage: CallUsage | undefined;
}

/**
 * The one way a feature calls a model in-process (knowledge today; the copilot and text-to-SQL
 * next): the caller's tenant routes, allow-lists, rate limits, budgets, breakers, retries,
 * address guard and usage ledger all apply, as for an HTTP client. Errors are the gateway's
 * typed ones: 404 model_not_found, 403 model_not_allowed, 429 rate_limited / budget_exceeded,
 * 4xx upstream_rejected, 5xx UpstreamFailed. A background job calls with servicePrincipal().
 */
export interface ModelCalls {
  chat(caller: Principal, call: ChatCall, meta: CallMeta): Promise<ChatOutcome>;
  embeddings(caller: Principal, call: EmbeddingsCall, meta: CallMeta): Promise<EmbeddingsOutcome>;
  /**
   * The document data classes (tag `class:<name>`) that may be sent to this model: those every
   * provider its route may use allows (decision 020). null: every class. A caller filters the
   * chunks it puts in a prompt by this before building it.
   */
  dataClassesAllowed(caller: Principal, model: ModelRef): Promise<string[] | null>;
}

const Usage = z
  .object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() })
  .optional();
const ToolCallBody = z.object({
  id: z.string(),
  type: z.literal('function').default('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
const ChatBody = z.object({
  choices: z.array(
    z.object({
      message: z
        .object({ content: z.unknown(), tool_calls: z.array(ToolCallBody).nullish() })
        .optional(),
    }),
  ),
  usage: Usage,
});
const EmbeddingsBody = z.object({
  data: z.array(z.object({ index: z.number().int().min(0), embedding: z.array(z.number()) })),
  usage: Usage,
});

function usageOf(u: z.infer<typeof Usage>): CallUsage | undefined {
  return u
    ? { promptTokens: u.prompt_tokens ?? 0, completionTokens: u.completion_tokens ?? 0 }
    : undefined;
}

/** The in-process entry over the invoke service; platform targets by name, resolved at start-up. */
export class InProcessModelCalls implements ModelCalls {
  constructor(
    private readonly invoke: GatewayService,
    private readonly platform: ReadonlyMap<string, ProviderConfig>,
  ) {}

  #target(ref: ModelRef): { model: string; direct?: DirectTarget } {
    if ('alias' in ref) return { model: ref.alias };
    const config = this.platform.get(ref.platform);
    if (!config) throw modelNotFound(ref.model);
    return { model: ref.model, direct: { name: ref.platform, config } };
  }

  async chat(caller: Principal, call: ChatCall, meta: CallMeta): Promise<ChatOutcome> {
    const { model, direct } = this.#target(call.model);
    const body: Record<string, unknown> & { model: string; messages: Record<string, unknown>[] } = {
      model,
      messages: call.messages,
    };
    if (call.temperature !== undefined) body.temperature = call.temperature;
    if (call.maxTokens !== undefined) body.max_tokens = call.maxTokens;
    if (call.tools?.length) body.tools = call.tools;
    if (call.toolChoice !== undefined) body.tool_choice = call.toolChoice;
    const onDelta = call.onDelta;
    if (onDelta) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    const result = await withDeadline(meta, async (signal) => {
      const r = await this.invoke.chat(
        caller,
        body,
        { requestId: meta.requestId, ip: '' },
        signal,
        undefined,
        direct,
      );
      // Read to the end inside the deadline: a stream that stalls is cut like a slow answer.
      return r.kind === 'stream' && onDelta ? await readChatStream(r, onDelta) : r;
    });
    if ('toolCalls' in result) return result;
    if (result.kind !== 'json') throw new UpstreamFailed('The gateway answered a stream.');
    const parsed = ChatBody.safeParse(result.body);
    if (!parsed.success) throw new UpstreamFailed('The model sent a malformed chat response.');
    const message = parsed.data.choices[0]?.message;
    const content = message?.content;
    return {
      content: typeof content === 'string' ? content : null,
      usage: usageOf(parsed.data.usage),
      body: result.body,
      toolCalls: message?.tool_calls ?? [],
      costUsd: result.costUsd ?? 0,
      provider: result.served?.provider ?? null,
      model: result.served?.model ?? null,
      redactions: result.redactions ?? 0,
    };
  }

  dataClassesAllowed(caller: Principal, ref: ModelRef): Promise<string[] | null> {
    const { model, direct } = this.#target(ref);
    return this.invoke.dataClassesAllowed(caller, model, direct);
  }

  async embeddings(
    caller: Principal,
    call: EmbeddingsCall,
    meta: CallMeta,
  ): Promise<EmbeddingsOutcome> {
    const { model, direct } = this.#target(call.model);
    const result = await withDeadline(meta, (signal) =>
      this.invoke.embeddings(
        caller,
        { model, input: [...call.input] },
        { requestId: meta.requestId, ip: '' },
        signal,
        undefined,
        direct,
      ),
    );
    const parsed = EmbeddingsBody.safeParse(result.body);
    if (!parsed.success)
      throw new UpstreamFailed('The model sent a malformed embeddings response.');
    const byIndex = new Map(parsed.data.data.map((d) => [d.index, d.embedding]));
    const vectors: number[][] = [];
    // Every input needs exactly one vector; a gap would silently misalign texts and vectors.
    for (let i = 0; i < call.input.length; i++) {
      const v = byIndex.get(i);
      if (!v || parsed.data.data.length !== call.input.length)
        throw new UpstreamFailed(
          `The model sent ${parsed.data.data.length} vectors for ${call.input.length} inputs.`,
        );
      vectors.push(v);
    }
    return { vectors, usage: usageOf(parsed.data.usage) };
  }
}

/** Runs the call with a signal that fires at the deadline; a call cut by it is a 504. */
async function withDeadline<T>(
  meta: CallMeta,
  run: (signal: CancelSignal) => Promise<T>,
): Promise<T> {
  const signal: CancelSignal =
    meta.timeoutMs === undefined ? new ClientCancel() : AbortSignal.timeout(meta.timeoutMs);
  try {
    return await run(signal);
  } catch (err) {
    if (signal.aborted)
      throw new UpstreamFailed(
        `The model did not answer within ${String(meta.timeoutMs)} ms.`,
        504,
        'upstream_timeout',
      );
    throw err;
  }
}
