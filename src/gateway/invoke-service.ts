import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Database } from '../platform/db/database.js';
import { AppError, UpstreamFailed } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { ADAPTERS } from './providers/index.js';
import {
  UnsupportedRequest,
  type ChatRequest,
  type EmbeddingsRequest,
  type ProviderConfig,
  type Usage,
} from './providers/types.js';
import type { ProviderService } from './providers-service.js';
import { getProvidersWithSecret } from './providers-store.js';
import { attemptOrder } from './routing.js';
import { findRouteForModel, listRoutes } from './routing-store.js';
import { relayStream } from './stream-relay.js';
import { callFirstAvailable, type Attempt } from './attempts.js';
import type { UpstreamClient } from './upstream.js';
import type { TargetPolicies } from './resilience/policy.js';
import type { UsageRecorder } from './usage.js';
import type { UsageEvent } from './usage-store.js';
import type { Admission, LimitsService } from './limits/service.js';

/** overheadMs: time spent in Rampart rather than in the upstream call that answered. */
export type ChatResult =
  | { kind: 'json'; body: Record<string, unknown>; overheadMs: number }
  | { kind: 'stream'; stream: Readable; overheadMs: number };

const NO_USAGE: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };

function modelNotFound(model: string): AppError {
  return new AppError(
    404,
    'model_not_found',
    `The model '${model}' does not exist or you do not have access to it.`,
    { errors: [{ field: 'body.model', message: 'unknown model' }] },
  );
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
      providers: ProviderService;
      upstream: UpstreamClient;
      policies: TargetPolicies;
      usage: UsageRecorder;
      logger: Logger;
      limits?: LimitsService | undefined;
    },
  ) {}

  async #plan(principal: Principal, model: string): Promise<Attempt[]> {
    const { route, rows } = await this.deps.db.withTenant(principal, async (tx) => {
      const route = await findRouteForModel(tx, model);
      if (!route) return { route: undefined, rows: [] };
      const names = [...route.targets, ...route.fallbacks].map((t) => t.provider);
      return { route, rows: await getProvidersWithSecret(tx, [...new Set(names)]) };
    });
    if (!route) throw modelNotFound(model);
    const byName = new Map(rows.map((r) => [r.name, r]));
    const attempts: Attempt[] = [];
    for (const step of attemptOrder(route, model)) {
      const row = byName.get(step.provider);
      if (!row) continue; // deleting a provider a route uses is refused; this is only a race
      // Decrypted only when this attempt is actually made: an unused fallback costs nothing.
      let config: ProviderConfig | undefined;
      const providers = this.deps.providers;
      attempts.push({
        ...step,
        adapter: ADAPTERS[row.type],
        get config() {
          return (config ??= providers.toConfig(row));
        },
      });
    }
    if (attempts.length === 0) throw modelNotFound(model);
    return attempts;
  }

  /** Records the one usage row of a request that ended before any upstream answer was used. */
  #failureRecorder(
    principal: Principal,
    meta: RequestMeta,
    base: Pick<UsageEvent, 'endpoint' | 'alias' | 'stream'>,
    started: number,
  ): (attempt: Attempt | undefined, status: number) => void {
    return (attempt, status) =>
      this.#usage(principal, meta, base, {
        attempt,
        usage: NO_USAGE,
        status,
        started,
        upstreamMs: null,
      });
  }

  #usage(
    principal: Principal,
    meta: RequestMeta,
    base: Pick<UsageEvent, 'endpoint' | 'alias' | 'stream'>,
    at: {
      attempt: Attempt | undefined;
      usage: Usage;
      status: number;
      started: number;
      upstreamMs: number | null;
    },
  ): void {
    this.deps.usage.record(principal, {
      ...base,
      keyId: principal.keyId,
      userId: principal.userId,
      provider: at.attempt?.provider ?? null,
      targetModel: at.attempt?.model ?? null,
      ...at.usage,
      latencyMs: performance.now() - at.started,
      upstreamLatencyMs: at.upstreamMs,
      status: at.status,
      cacheHit: false,
      requestId: meta.requestId,
    });
  }

  /** Limits and budgets around the call: admitted before it, settled when it ends. */
  async #admit(
    principal: Principal,
    model: string,
    input: unknown,
    maxTokens: unknown,
    attempts: Attempt[],
  ): Promise<Admission> {
    if (!this.deps.limits) return { end: () => Promise.resolve() };
    return this.deps.limits.admit(
      principal,
      { model, input, maxTokens: typeof maxTokens === 'number' ? maxTokens : undefined },
      attempts.map((a) => a.model),
    );
  }

  async chat(
    principal: Principal,
    body: ChatRequest,
    meta: RequestMeta,
    signal: AbortSignal,
  ): Promise<ChatResult> {
    const attempts = await this.#plan(principal, body.model);
    const { messages, tools, max_tokens, max_completion_tokens } = body as Record<string, unknown>;
    const admission = await this.#admit(
      principal,
      body.model,
      { messages, tools },
      max_completion_tokens ?? max_tokens,
      attempts,
    );
    try {
      const result = await this.#chatAdmitted(principal, body, meta, signal, attempts, admission);
      // Ends a stream the client left before it started (its generator never ran): no-op otherwise.
      if (result.kind === 'stream')
        result.stream.once('close', () => void admission.end(undefined, undefined));
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
    signal: AbortSignal,
    attempts: Attempt[],
    admission: Admission,
  ): Promise<ChatResult> {
    const started = performance.now();
    const stream = body.stream === true;
    const base = { endpoint: 'chat' as const, alias: body.model, stream };
    const fail = this.#failureRecorder(principal, meta, base, started);
    const { attempt, res, upstreamStart } = await callFirstAvailable(
      this.deps.upstream,
      this.deps.policies,
      principal.tenantId,
      attempts,
      (a) => a.adapter.chatRequest(a.config, body, a.model),
      signal,
      fail,
    );
    if (!stream) {
      let json: unknown;
      try {
        json = await res.body.json();
      } catch {
        fail(attempt, 502);
        throw new UpstreamFailed(`Provider '${attempt.provider}' sent a malformed response.`);
      }
      const upstreamMs = performance.now() - upstreamStart;
      const out = attempt.adapter.chatResponse(json);
      this.#usage(principal, meta, base, {
        attempt,
        usage: out.usage ?? NO_USAGE,
        status: 200,
        started,
        upstreamMs,
      });
      await admission.end(out.usage, attempt.model);
      return { kind: 'json', body: out.body, overheadMs: performance.now() - started - upstreamMs };
    }
    const includeUsage =
      typeof body.stream_options === 'object' &&
      body.stream_options !== null &&
      (body.stream_options as { include_usage?: unknown }).include_usage === true;
    const translator = attempt.adapter.chatStream({ includeUsage });
    const record = (status: number) =>
      this.#usage(principal, meta, base, {
        attempt,
        usage: translator.usage ?? NO_USAGE,
        status,
        started,
        upstreamMs: performance.now() - upstreamStart,
      });
    const relayed = relayStream({
      res,
      translator,
      signal,
      logger: this.deps.logger,
      requestId: meta.requestId,
      onEnd: (status) => {
        record(status);
        void admission.end(translator.usage, attempt.model);
      },
    });
    // Up to the response headers: everything before the upstream call that answered.
    return { kind: 'stream', stream: relayed, overheadMs: upstreamStart - started };
  }

  async embeddings(
    principal: Principal,
    body: EmbeddingsRequest,
    meta: RequestMeta,
    signal: AbortSignal,
  ): Promise<{ body: Record<string, unknown>; overheadMs: number }> {
    const attempts = await this.#plan(principal, body.model);
    const admission = await this.#admit(principal, body.model, body.input, 0, attempts);
    try {
      const out = await this.#embeddingsAdmitted(principal, body, meta, signal, attempts);
      // Embeddings report prompt tokens only; the reservation (prompt estimate) is the cost.
      await admission.end(undefined, attempts[0]?.model);
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
    signal: AbortSignal,
    attempts: Attempt[],
  ): Promise<{ body: Record<string, unknown>; overheadMs: number }> {
    const started = performance.now();
    const base = { endpoint: 'embeddings' as const, alias: body.model, stream: false };
    const fail = this.#failureRecorder(principal, meta, base, started);
    const { attempt, res, upstreamStart } = await callFirstAvailable(
      this.deps.upstream,
      this.deps.policies,
      principal.tenantId,
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
      fail,
    );
    let json: unknown;
    try {
      json = await res.body.json();
    } catch {
      fail(attempt, 502);
      throw new UpstreamFailed(`Provider '${attempt.provider}' sent a malformed response.`);
    }
    const upstreamMs = performance.now() - upstreamStart;
    const out = attempt.adapter.embeddingsResponse?.(json) ?? { body: {}, usage: undefined };
    this.#usage(principal, meta, base, {
      attempt,
      usage: out.usage ?? NO_USAGE,
      status: 200,
      started,
      upstreamMs,
    });
    return { body: out.body, overheadMs: performance.now() - started - upstreamMs };
  }

  /** The aliases this tenant routes (the '*' pass-through route is not a model). */
  async models(principal: Principal): Promise<{ object: 'list'; data: Record<string, unknown>[] }> {
    const routes = await this.deps.db.withTenant(principal, (tx) => listRoutes(tx));
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
