import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  fullJitterGenerator,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type { OutboundHttp } from '../../platform/net/outbound-http.js';
import type { CompensateRequest, ToolRequest } from '../schemas.js';
import { fillBody, fillText, fillUrl } from './template.js';

/** A tool call that did not succeed; `retryable` failures (network, 5xx, 429) are retried. */
export class ToolFailed extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'ToolFailed';
  }
}

export interface ActionCall {
  /** Breakers are per tenant and tool. */
  breakerKey: string;
  request: ToolRequest | CompensateRequest;
  vars: Record<string, unknown>;
  /** Sent as `Idempotency-Key` on every delivery of this call. */
  idempotencyKey: string;
  credential: string | undefined;
  timeoutMs: number;
  retries: number;
  /** Default body when the template has none: the arguments (request) or nothing (compensate). */
  defaultBody: unknown;
}

const BREAKERS_MAX = 1000;

/**
 * Runs tenant HTTP actions through the guarded outbound client, with the tool's timeout,
 * retries (exponential backoff, full jitter) and a circuit breaker per tenant and tool.
 */
export class HttpActions {
  readonly #breakers = new Map<string, CircuitBreakerPolicy>();

  constructor(
    private readonly http: OutboundHttp,
    private readonly opts: {
      retryBaseMs: number;
      breakerThreshold: number;
      breakerCooldownMs: number;
    },
  ) {}

  #breaker(key: string): CircuitBreakerPolicy {
    let b = this.#breakers.get(key);
    if (!b) {
      if (this.#breakers.size >= BREAKERS_MAX) {
        const oldest = this.#breakers.keys().next().value;
        if (oldest !== undefined) this.#breakers.delete(oldest);
      }
      b = circuitBreaker(
        handleWhen((e) => e instanceof ToolFailed && e.retryable),
        {
          halfOpenAfter: this.opts.breakerCooldownMs,
          breaker: new ConsecutiveBreaker(this.opts.breakerThreshold),
        },
      );
      this.#breakers.set(key, b);
    }
    return b;
  }

  /** Sends the call; resolves with the response body (JSON when it parses, else text). */
  async call(c: ActionCall): Promise<unknown> {
    const policy = retry(
      handleWhen((e) => e instanceof ToolFailed && e.retryable),
      {
        maxAttempts: c.retries,
        backoff: new ExponentialBackoff({
          initialDelay: this.opts.retryBaseMs,
          maxDelay: 10_000,
          generator: fullJitterGenerator,
        }),
      },
    );
    const breaker = this.#breaker(c.breakerKey);
    try {
      return await policy.execute(() => breaker.execute(() => this.#once(c)));
    } catch (err) {
      if (err instanceof BrokenCircuitError)
        throw new ToolFailed('the action is failing repeatedly (circuit open)', false);
      throw err;
    }
  }

  async #once(c: ActionCall): Promise<unknown> {
    const vars = c.credential === undefined ? c.vars : { ...c.vars, credential: c.credential };
    const headers: Record<string, string> = { 'idempotency-key': c.idempotencyKey };
    let placed = false;
    for (const [name, template] of Object.entries(c.request.headers ?? {})) {
      if (template.includes('{credential}')) placed = true;
      headers[name.toLowerCase()] = fillText(template, vars);
    }
    if (c.credential !== undefined && !placed) headers.authorization = `Bearer ${c.credential}`;
    const template = c.request.body === undefined ? c.defaultBody : c.request.body;
    const hasBody = c.request.method !== 'GET' && template !== undefined;
    if (hasBody) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await this.http.send({
        method: c.request.method,
        url: fillUrl(c.request.url, c.vars),
        headers,
        body: hasBody ? JSON.stringify(fillBody(template, c.vars)) : undefined,
        timeoutMs: c.timeoutMs,
      });
    } catch (err) {
      const blocked = (err as { code?: unknown }).code === 'ERR_RAMPART_BLOCKED_ADDRESS';
      const message = err instanceof Error ? err.message : String(err);
      throw new ToolFailed(
        blocked
          ? `the action's address is not allowed: ${message}`
          : `the action failed: ${message}`,
        !blocked,
      );
    }
    const body = parseBody(res.body);
    if (res.status >= 400)
      throw new ToolFailed(
        `the action answered HTTP ${res.status}`,
        res.status >= 500 || res.status === 429 || res.status === 408,
      );
    return body;
  }
}

function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
