import {
  Client,
  ClientCredentialsProvider,
  SdkHttpError,
  StreamableHTTPClientTransport,
  type Tool,
} from '@modelcontextprotocol/client';
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  fullJitterGenerator,
  handleAll,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { ServiceUnavailable, UpstreamFailed } from '../../platform/http/errors.js';
import { BlockedOutboundAddress } from '../../platform/net/outbound-guard.js';
import { guardedFetch, type GuardedFetchInit } from '../../platform/net/guarded-fetch.js';
import { messageOf } from '../../platform/checked.js';

/** How Rampart authenticates to one external server (decrypted just before use). */
export type Credentials =
  | { kind: 'headers'; headers: Record<string, string> }
  | { kind: 'oauth'; clientId: string; clientSecret: string; scope?: string | undefined };

export interface Target {
  /** The server's row id: its circuit breaker's key. */
  id: string;
  name: string;
  url: string;
  credentials: Credentials;
}

const BREAKERS_MAX = 10_000;

/** The SDK's fetch arguments for the guarded fetch; redirects are never followed. */
export function guardedInit(init: RequestInit | undefined): GuardedFetchInit {
  const body = init?.body;
  return {
    method: init?.method ?? 'GET',
    headers: Object.fromEntries(new Headers(init?.headers).entries()),
    body: typeof body === 'string' || body instanceof URLSearchParams ? body : undefined,
    redirect: 'manual',
    signal: init?.signal,
  };
}
const CLIENT_INFO = { name: 'rampart', version: '0.1.0' };

const TIMEOUT_CAUSES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * A failure worth another try of a read-only call: the server answered 5xx, or the request never
 * got an answer (connection refused or reset). Not a timeout (the call already had its whole
 * deadline), not a 4xx, not a tool error or a JSON-RPC error (the server's considered answer).
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof SdkHttpError) return err.status >= 500;
  if (err instanceof TypeError && err.message === 'fetch failed') {
    const cause: unknown = err.cause;
    const code =
      typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
    return !TIMEOUT_CAUSES.has(code);
  }
  return false;
}

/** Errors a retry schedule saw, kept so the last one is explained, not the schedule's own. */
class Transient extends Error {
  constructor(readonly original: unknown) {
    super('transient');
  }
}

/**
 * Connections to tenants' external MCP servers over Streamable HTTP (the SDK's client). Every
 * request goes through the outbound guard (a non-public address is refused unless
 * OUTBOUND_ALLOW_PRIVATE_ADDRESSES), redirects are not followed (a redirect cannot lead a hop
 * past the guard), each request has a deadline, and each server has a circuit breaker: a server
 * that is down makes its tools fail at once instead of holding runs.
 */
export class McpConnections {
  readonly #breakers = new Map<string, CircuitBreakerPolicy>();
  readonly #fetch;

  constructor(
    private readonly opts: {
      allowPrivate: boolean;
      timeoutMs: number;
      breakerThreshold: number;
      breakerCooldownMs: number;
      /** Further attempts of a retry-safe call after a transient failure. */
      retries?: number;
      retryBaseMs?: number;
    },
  ) {
    this.#fetch = guardedFetch(opts.allowPrivate, opts.timeoutMs);
  }

  async listTools(target: Target): Promise<{ tools: Tool[]; ttlMs: number | undefined }> {
    return this.#explained(target, async (client) => {
      const tools: Tool[] = [];
      let cursor: string | undefined;
      let ttlMs: number | undefined;
      for (let page = 0; page < 50; page++) {
        const res = await client.listTools(cursor ? { cursor } : {}, {
          timeout: this.opts.timeoutMs,
        });
        tools.push(...res.tools);
        if (typeof res.ttlMs === 'number') ttlMs = res.ttlMs;
        cursor = res.nextCursor;
        if (!cursor) break;
      }
      return { tools, ttlMs };
    });
  }

  /**
   * Calls a tool. `retrySafe` (read-only by the server's word and free of side effects by the
   * tenant's) lets a transient failure be retried with exponential backoff and full jitter; any
   * other call is sent exactly once.
   */
  async callTool(
    target: Target,
    name: string,
    args: Record<string, unknown>,
    opts: { retrySafe?: boolean } = {},
  ): Promise<unknown> {
    const once = () =>
      this.#with(target, (client) =>
        client.callTool({ name, arguments: args }, { timeout: this.opts.timeoutMs }),
      );
    const retries = opts.retrySafe ? (this.opts.retries ?? 0) : 0;
    const result =
      retries > 0
        ? await retry(
            handleWhen((e) => e instanceof Transient),
            {
              maxAttempts: retries,
              backoff: new ExponentialBackoff({
                initialDelay: this.opts.retryBaseMs ?? 200,
                maxDelay: 10_000,
                generator: fullJitterGenerator,
              }),
            },
          )
            .execute(() => once())
            .catch((err: unknown) => {
              throw err instanceof Transient ? this.#explain(target, err.original) : err;
            })
        : await once().catch((err: unknown) => {
            throw err instanceof Transient ? this.#explain(target, err.original) : err;
          });
    const text = (result.content ?? [])
      .map((c) => (c.type === 'text' ? c.text : `[${c.type}]`))
      .join('\n');
    if (result.isError)
      throw new UpstreamFailed(
        `MCP server '${target.name}' reported an error from ${name}: ${text.slice(0, 2000)}`,
        502,
        'mcp_tool_error',
      );
    return result.structuredContent ?? text;
  }

  async close(): Promise<void> {
    this.#breakers.clear();
  }

  async #explained<T>(target: Target, fn: (client: Client) => Promise<T>): Promise<T> {
    return this.#with(target, fn).catch((err: unknown) => {
      throw err instanceof Transient ? this.#explain(target, err.original) : err;
    });
  }

  async #with<T>(target: Target, fn: (client: Client) => Promise<T>): Promise<T> {
    try {
      return await this.#breaker(target.id).execute(async () => {
        const client = new Client(CLIENT_INFO);
        const transport = new StreamableHTTPClientTransport(new URL(target.url), {
          fetch: (url, init) => this.#fetch(String(url), guardedInit(init)),
          ...(target.credentials.kind === 'headers'
            ? { requestInit: { headers: target.credentials.headers } }
            : {
                authProvider: new ClientCredentialsProvider({
                  clientId: target.credentials.clientId,
                  clientSecret: target.credentials.clientSecret,
                  ...(target.credentials.scope ? { scope: target.credentials.scope } : {}),
                }),
              }),
        });
        try {
          await client.connect(transport, { timeout: this.opts.timeoutMs });
          return await fn(client);
        } finally {
          await client.close().catch(() => undefined);
        }
      });
    } catch (err) {
      // A transient failure stays raw until the schedule gives up (then it is explained).
      if (isTransient(err)) throw new Transient(err);
      throw this.#explain(target, err);
    }
  }

  #explain(target: Target, err: unknown): Error {
    if (err instanceof UpstreamFailed || err instanceof ServiceUnavailable) return err;
    if (err instanceof BrokenCircuitError)
      return new ServiceUnavailable(
        `MCP server '${target.name}' is failing; its tools are paused for a while (circuit open).`,
        'mcp_circuit_open',
      );
    if (err instanceof BlockedOutboundAddress)
      return new UpstreamFailed(
        `MCP server '${target.name}': ${err.message}`,
        502,
        'outbound_address_blocked',
      );
    const message = messageOf(err);
    if (/time(d)? ?out/i.test(message) || (err instanceof Error && err.name === 'TimeoutError'))
      return new UpstreamFailed(
        `MCP server '${target.name}' did not answer within ${this.opts.timeoutMs} ms.`,
        504,
        'mcp_timeout',
      );
    return new UpstreamFailed(
      `MCP server '${target.name}' failed: ${message.slice(0, 500)}`,
      502,
      'mcp_unavailable',
    );
  }

  #breaker(key: string): CircuitBreakerPolicy {
    let b = this.#breakers.get(key);
    if (!b) {
      if (this.#breakers.size >= BREAKERS_MAX) {
        const oldest = this.#breakers.keys().next().value;
        if (oldest !== undefined) this.#breakers.delete(oldest);
      }
      b = circuitBreaker(handleAll, {
        halfOpenAfter: this.opts.breakerCooldownMs,
        breaker: new ConsecutiveBreaker(this.opts.breakerThreshold),
      });
      this.#breakers.set(key, b);
    }
    return b;
  }
}
