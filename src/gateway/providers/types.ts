import type { SseEvent } from '../invoke/sse.js';

export type ProviderType = 'openai' | 'anthropic';

/** Token counts as the gateway meters them (OpenAI's meaning: prompt includes cached tokens). */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

/** A provider as an adapter needs it: decrypted credential included, so never log this. */
export interface ProviderConfig {
  type: ProviderType;
  baseUrl: string;
  apiKey: string;
  headers: Record<string, string>;
  /** Set by the operator (platform providers file), not a tenant: exempt from the upstream address guard. */
  trusted?: boolean;
  /** What may be sent to this provider (decision 020); absent: no restriction of its own. */
  dataPolicy?: ProviderDataPolicy | undefined;
  /** Runs on the tenant's (or operator's) own infrastructure: exempt from a tenant-wide redaction requirement. */
  selfHosted?: boolean | undefined;
}

/**
 * A provider's outbound data policy. redactPii: e-mails, phone numbers, SSNs, card numbers and
 * IBANs in prompts are masked before they are sent. allowDataClasses: the only document data
 * classes (document tags `class:<name>`) whose chunks may be sent to it; absent: every class.
 */
export interface ProviderDataPolicy {
  redactPii?: boolean | undefined;
  allowDataClasses?: string[] | undefined;
}

/** An OpenAI-style request body; unknown fields are kept (passed through where the upstream speaks OpenAI). */
export type ChatRequest = Record<string, unknown> & {
  model: string;
  messages: Record<string, unknown>[];
  stream?: boolean | undefined;
};

export type EmbeddingsRequest = Record<string, unknown> & { model: string };

export interface UpstreamCall {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Turns one upstream stream into OpenAI chat.completion.chunk payloads. */
export interface StreamTranslator {
  /** Handles one upstream event; returns the `data:` payloads to send to the client, in order. */
  push(event: SseEvent): string[];
  /** Payloads to send after the upstream ended (before `[DONE]`). */
  end(): string[];
  /** Usage reported by the upstream, once it has been seen. */
  readonly usage: Usage | undefined;
  /** An error the upstream reported inside the stream. */
  readonly error: string | undefined;
}

/** One provider type's translation to and from the OpenAI wire format. */
export interface ProviderAdapter {
  readonly type: ProviderType;
  /**
   * True when chatResponse and embeddingsResponse return the parsed upstream object itself,
   * unchanged (never mutated): the upstream's bytes are then relayed instead of re-serialized.
   */
  readonly relaysBody?: boolean;
  chatRequest(provider: ProviderConfig, body: ChatRequest, model: string): UpstreamCall;
  chatResponse(json: unknown): { body: Record<string, unknown>; usage: Usage | undefined };
  chatStream(opts: { includeUsage: boolean }): StreamTranslator;
  /** Undefined when the provider has no embeddings API. */
  embeddingsRequest?(
    provider: ProviderConfig,
    body: EmbeddingsRequest,
    model: string,
  ): UpstreamCall;
  embeddingsResponse?(json: unknown): { body: Record<string, unknown>; usage: Usage | undefined };
  /** The human message inside an upstream error body, if there is one. */
  errorMessage(json: unknown): string | undefined;
}

/** A request this provider cannot express (e.g. n > 1 on Anthropic): the client gets a 400. */
export class UnsupportedRequest extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'UnsupportedRequest';
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * What an adapter derives from a provider's settings alone (URLs, headers), computed once per
 * settings object: a tenant's config snapshot hands every request the same object until the
 * provider changes (a change builds a new snapshot).
 */
export function perProvider<T>(derive: (p: ProviderConfig) => T): (p: ProviderConfig) => T {
  const memo = new WeakMap<ProviderConfig, T>();
  return (p) => {
    let v = memo.get(p);
    if (v === undefined) memo.set(p, (v = derive(p)));
    return v;
  };
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0;
}
