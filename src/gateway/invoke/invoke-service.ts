import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.js';
import { UpstreamFailed } from '../../platform/http/errors.js';
import type { Principal, RequestMeta } from '../../platform/http/principal.js';
import {
  UnsupportedRequest,
  type ChatRequest,
  type EmbeddingsRequest,
  type ProviderConfig,
  type Usage,
} from '../providers/types.js';
import { relayStream } from './stream-relay.js';
import type { CancelSignal } from './cancel.js';
import { callFirstAvailable, type Attempt } from './attempts.js';
import { redactChatRequest } from './outbound-policy.js';
import type { UpstreamClient, UpstreamResponse } from './upstream.js';
import type { TargetPolicies } from '../resilience/policy.js';
import type { UsageRecorder } from '../usage/usage.js';
import type { Admission, LimitsService } from '../limits/service.js';
import type { Planner } from './planner.js';
import { NO_USAGE, RequestMeter, type MeterBase } from './metering.js';
import { priceOf, type GatewayMetrics } from '../telemetry/telemetry.js';
import { costUsd } from '../config/prices.js';
import type { CacheDirective, CachePlan, ResponseCache } from '../cache/index.js';
import {
  estimateChatUsage,
  estimateEmbeddingTokens,
  responseText,
  streamUsage,
} from './token-estimate.js';

/**
 * overheadMs: time spent in Rampart rather than in the upstream call that answered.
 * rateLimitHeaders: the x-ratelimit-* of the limits that admitted the request.
 * raw: the body's JSON text exactly as the upstream sent it, when the adapter relays the upstream
 * body unchanged; sent as it is, so the body is not serialized again.
 */
export type ChatResult = (
  | {
      kind: 'json';
      body: Record<string, unknown>;
      raw?: string;
      overheadMs: number;
      cache?: 'hit' | 'miss';
      /** The tenant's cost of this answer (for in-process callers that keep a budget). */
      costUsd?: number;
      /** The target that answered (undefined for a cache hit). */
      served?: { provider: string; model: string };
      /** PII values masked in the prompt sent to that target. */
      redactions?: number;
    }
  | {
      kind: 'stream';
      stream: Readable;
      overheadMs: number;
      /**
       * Settles when the stream ends (after the usage row is recorded): what it cost the tenant,
       * for in-process callers that keep a budget. Never rejects.
       */
      settled?: Promise<{ status: number; usage: Usage | undefined; costUsd: number }>;
      /** The target that answered. */
      served?: { provider: string; model: string };
      /** PII values masked in the prompt sent to that target. */
      redactions?: number;
    }
) & { rateLimitHeaders?: Record<string, string> };

export interface EmbeddingsResult {
  body: Record<string, unknown>;
  raw?: string;
  overheadMs: number;
  cache?: 'hit' | 'miss';
  rateLimitHeaders?: Record<string, string>;
}

/**
 * A platform provider an in-process caller names directly instead of a tenant alias (its
 * platform default); the request's `model` is then the upstream model.
 */
export interface DirectTarget {
  name: string;
  config: ProviderConfig;
}

/** The upstream's text, when the adapter's answer is that very object, unchanged. */
function relayable(attempt: Attempt, body: unknown, read: { json: unknown; text: string }) {
  return attempt.adapter.relaysBody === true && body === read.json ? read.text : undefined;
}

/** The upstream's JSON body, parsed, and its text (which may be relayed as it is). */
async function readJson(
  res: UpstreamResponse,
  attempt: Attempt,
  meter: RequestMeter,
): Promise<{ json: unknown; text: string }> {
  try {
    const text = await res.body.text();
    return { json: JSON.parse(text) as unknown, text };
  } catch {
    meter.fail(attempt, 502);
    throw new UpstreamFailed(`Provider '${attempt.provider}' sent a malformed response.`);
  }
}

/**
 * The OpenAI-compatible invoke path: resolve the alias to a route, call the chosen target and
 * fall back in order on 429/5xx/connect errors/timeouts (only before any byte reached the
 * client), translate through the provider's adapter, and meter usage.
 */
export class GatewayService {
  constructor(
    private readonly deps: {
      db: Database;
      planner: Planner;
      upstream: UpstreamClient;
      policies: TargetPolicies;
      usage: UsageRecorder;
      logger: Logger;
      limits?: LimitsService | undefined;
      metrics?: GatewayMetrics | undefined;
      cache?: ResponseCache | undefined;
    },
  ) {}

  /** The route's attempts for the requested alias, or the direct target's one attempt. */
  #plan(principal: Principal, model: string, direct: DirectTarget | undefined): Promise<Attempt[]> {
    return direct
      ? this.deps.planner.planDirect(principal, direct, model)
      : this.deps.planner.plan(principal, model);
  }

  /** The document data classes a call to `model` may carry (null: any); see Planner. */
  dataClassesAllowed(
    principal: Principal,
    model: string,
    direct?: DirectTarget,
  ): Promise<string[] | null> {
    return this.deps.planner.dataClassesAllowed(principal, model, direct);
  }

  /** Counts a limits rejection in the metrics and rethrows it. */
  readonly #rejected = (err: unknown): never => {
    this.deps.metrics?.rejected(err);
    throw err;
  };

  #overhead(endpoint: 'chat' | 'embeddings', stream: boolean, ms: number): void {
    this.deps.metrics?.overhead.observe({ endpoint, stream: String(stream) }, ms / 1000);
  }

  #meter(principal: Principal, meta: RequestMeta, base: MeterBase): RequestMeter {
    return new RequestMeter(
      this.deps.usage,
      principal,
      meta,
      base,
      this.deps.metrics,
      meta.receivedAt ?? performance.now(),
    );
  }

  /** Limits and budgets around the call: admitted before it, settled when it ends. */
  async #admit(
    principal: Principal,
    model: string,
    input: unknown,
    maxTokens: unknown,
    attempts: Attempt[],
  ): Promise<Admission> {
    if (!this.deps.limits) return { headers: {}, end: () => Promise.resolve() };
    return this.deps.limits.admit(
      principal,
      { model, input, maxTokens: typeof maxTokens === 'number' ? maxTokens : undefined },
      attempts,
    );
  }

  #call(
    principal: Principal,
    attempts: Attempt[],
    build: Parameters<typeof callFirstAvailable>[4],
    signal: CancelSignal,
    meter: RequestMeter,
  ) {
    const { upstream, policies } = this.deps;
    return callFirstAvailable(
      upstream,
      policies,
      principal.tenantId,
      attempts,
      build,
      signal,
      meter.fail,
    );
  }

  async chat(
    principal: Principal,
    body: ChatRequest,
    meta: RequestMeta,
    signal: CancelSignal,
    cacheDirective?: CacheDirective,
    direct?: DirectTarget,
  ): Promise<ChatResult> {
    const attempts = await this.#plan(principal, body.model, direct);
    const { messages, tools, max_tokens, max_completion_tokens } = body as Record<string, unknown>;
    const admission = await this.#admit(
      principal,
      body.model,
      { messages, tools },
      max_completion_tokens ?? max_tokens,
      attempts,
    ).catch(this.#rejected);
    try {
      // After admission (allow-list, limits and budget still apply to a hit), before upstream.
      const plan = this.deps.cache?.plan(
        principal.tenantId,
        'chat',
        body,
        cacheDirective,
        attempts[0]?.cache,
      );
      const result = await this.#chatAdmitted(
        principal,
        body,
        meta,
        signal,
        attempts,
        admission,
        plan,
      );
      this.#overhead('chat', result.kind === 'stream', result.overheadMs);
      // Ends a stream the client left before it started (its generator never ran): no-op otherwise.
      if (result.kind === 'stream')
        result.stream.once('close', () => void admission.end(undefined, undefined));
      result.rateLimitHeaders = admission.headers;
      return result;
    } catch (err) {
      await admission.end(undefined, undefined);
      throw err;
    }
  }

  async #chatAdmitted(
    principal: Principal,
    body: ChatRequest,
    meta: RequestMeta,
    signal: CancelSignal,
    attempts: Attempt[],
    admission: Admission,
    plan: CachePlan | undefined,
  ): Promise<ChatResult> {
    const stream = body.stream === true;
    const meter = this.#meter(principal, meta, {
      endpoint: 'chat',
      alias: body.model,
      stream,
      cache: plan ? 'miss' : undefined,
      maxTokens: body.max_completion_tokens ?? body.max_tokens,
      temperature: body.temperature,
    });
    const hit = await this.deps.cache?.answer(plan, attempts, meter, admission);
    if (hit) return { kind: 'json', body: hit, overheadMs: meter.elapsedMs(), cache: 'hit' };
    const { attempt, res, upstreamStart } = await this.#call(
      principal,
      attempts,
      (a) => a.adapter.chatRequest(a.config, this.#outbound(a, body, meter), a.model),
      signal,
      meter,
    );
    if (!stream) {
      const read = await readJson(res, attempt, meter);
      const upstreamMs = performance.now() - upstreamStart;
      const out = attempt.adapter.chatResponse(read.json);
      // No usage from the provider: estimate it offline rather than meter nothing.
      const usage = out.usage ?? estimateChatUsage(body, responseText(out.body));
      meter.record({ attempt, usage, status: 200, upstreamMs, estimated: !out.usage });
      await admission.end(usage, attempt.model);
      this.deps.cache?.remember(plan, attempt, out.body);
      const result: ChatResult = {
        kind: 'json',
        body: out.body,
        overheadMs: performance.now() - meter.started - upstreamMs,
        costUsd: costUsd(priceOf(attempt), usage),
        served: { provider: attempt.provider, model: attempt.model },
        redactions: meter.redactions,
      };
      const raw = relayable(attempt, out.body, read);
      if (raw !== undefined) result.raw = raw;
      if (plan) result.cache = 'miss';
      return result;
    }
    const includeUsage =
      typeof body.stream_options === 'object' &&
      body.stream_options !== null &&
      (body.stream_options as { include_usage?: unknown }).include_usage === true;
    const translator = attempt.adapter.chatStream({ includeUsage });
    let settle: (s: { status: number; usage: Usage | undefined; costUsd: number }) => void = () =>
      undefined;
    const settled = new Promise<{ status: number; usage: Usage | undefined; costUsd: number }>(
      (resolve) => (settle = resolve),
    );
    const relayed = relayStream({
      res,
      translator,
      signal,
      logger: this.deps.logger,
      requestId: meta.requestId,
      onFirstChunk: meter.firstChunk,
      onEnd: (status, sent) => {
        const { usage, estimated } = streamUsage(translator.usage, status, body, sent);
        meter.record({
          attempt,
          usage: usage ?? NO_USAGE,
          status,
          upstreamMs: performance.now() - upstreamStart,
          estimated,
        });
        void admission.end(usage, attempt.model);
        settle({ status, usage, costUsd: costUsd(priceOf(attempt), usage ?? NO_USAGE) });
      },
    });
    // Up to the response headers: everything before the upstream call that answered.
    return {
      kind: 'stream',
      stream: relayed,
      overheadMs: upstreamStart - meter.started,
      settled,
      served: { provider: attempt.provider, model: attempt.model },
      redactions: meter.redactions,
    };
  }

  /**
   * The body as this target may receive it (decision 020): PII masked when its policy redacts,
   * counted per kind in the metrics and on the meter (the usage row's redactions). Built once
   * per target, before its first call; the client's body is never changed.
   */
  #outbound(attempt: Attempt, body: ChatRequest, meter: RequestMeter): ChatRequest {
    if (attempt.outbound?.redactPii !== true) {
      meter.redactions = 0;
      return body;
    }
    const r = redactChatRequest(body);
    meter.redactions = r.total;
    const m = this.deps.metrics;
    if (m)
      for (const [kind, n] of Object.entries(r.counts)) if (n > 0) m.piiRedactions.inc({ kind }, n);
    return r.body;
  }

  async embeddings(
    principal: Principal,
    body: EmbeddingsRequest,
    meta: RequestMeta,
    signal: CancelSignal,
    cacheDirective?: CacheDirective,
    direct?: DirectTarget,
  ): Promise<EmbeddingsResult> {
    const attempts = await this.#plan(principal, body.model, direct);
    const admission = await this.#admit(principal, body.model, body.input, 0, attempts).catch(
      this.#rejected,
    );
    try {
      const plan = this.deps.cache?.plan(
        principal.tenantId,
        'embeddings',
        body,
        cacheDirective,
        attempts[0]?.cache,
      );
      const out = await this.#embeddingsAdmitted(principal, body, meta, signal, attempts, {
        plan,
        admission,
      });
      this.#overhead('embeddings', false, out.overheadMs);
      // Embeddings report prompt tokens only; the reservation (prompt estimate) is the cost.
      await admission.end(undefined, attempts[0]?.model);
      out.rateLimitHeaders = admission.headers;
      return out;
    } catch (err) {
      await admission.end(undefined, undefined);
      throw err;
    }
  }

  async #embeddingsAdmitted(
    principal: Principal,
    body: EmbeddingsRequest,
    meta: RequestMeta,
    signal: CancelSignal,
    attempts: Attempt[],
    { plan, admission }: { plan: CachePlan | undefined; admission: Admission },
  ): Promise<EmbeddingsResult> {
    const meter = this.#meter(principal, meta, {
      endpoint: 'embeddings',
      alias: body.model,
      stream: false,
      cache: plan ? 'miss' : undefined,
    });
    const hit = await this.deps.cache?.answer(plan, attempts, meter, admission);
    if (hit) return { body: hit, overheadMs: meter.elapsedMs(), cache: 'hit' };
    const { attempt, res, upstreamStart } = await this.#call(
      principal,
      attempts,
      (a) => {
        if (!a.adapter.embeddingsRequest)
          throw new UnsupportedRequest(
            `Provider '${a.provider}' (${a.adapter.type}) has no embeddings API.`,
            'model',
          );
        return a.adapter.embeddingsRequest(a.config, body, a.model);
      },
      signal,
      meter,
    );
    const read = await readJson(res, attempt, meter);
    const upstreamMs = performance.now() - upstreamStart;
    const out = attempt.adapter.embeddingsResponse?.(read.json) ?? { body: {}, usage: undefined };
    const usage = out.usage ?? {
      promptTokens: estimateEmbeddingTokens(body.input),
      completionTokens: 0,
      cachedTokens: 0,
    };
    meter.record({ attempt, usage, status: 200, upstreamMs, estimated: !out.usage });
    this.deps.cache?.remember(plan, attempt, out.body);
    const result: EmbeddingsResult = {
      body: out.body,
      overheadMs: performance.now() - meter.started - upstreamMs,
    };
    const raw = relayable(attempt, out.body, read);
    if (raw !== undefined) result.raw = raw;
    if (plan) result.cache = 'miss';
    return result;
  }

  /** The aliases this tenant routes (the '*' pass-through route is not a model). */
  async models(principal: Principal): Promise<{ object: 'list'; data: Record<string, unknown>[] }> {
    const { routes } = await this.deps.planner.config(principal);
    const allowed = (await this.deps.limits?.allowedModels(principal)) ?? null;
    return {
      object: 'list',
      data: routes
        .filter((r) => r.alias !== '*' && (allowed === null || allowed.includes(r.alias)))
        .map((r) => ({
          id: r.alias,
          object: 'model',
          created: Math.floor(new Date(r.created_at).getTime() / 1000),
          owned_by: principal.tenantSlug,
        })),
    };
  }
}
