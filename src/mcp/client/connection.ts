import {
  Client,
  ClientCredentialsProvider,
  StreamableHTTPClientTransport,
  type Tool,
} from '@modelcontextprotocol/client';
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
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
function guardedInit(init: RequestInit | undefined): GuardedFetchInit {
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
    },
  ) {
    this.#fetch = guardedFetch(opts.allowPrivate, opts.timeoutMs);
  }

  async listTools(target: Target): Promise<{ tools: Tool[]; ttlMs: number | undefined }> {
    return this.#with(target, async (client) => {
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

  async callTool(target: Target, name: string, args: Record<string, unknown>): Promise<unknown> {
    const result = await this.#with(target, (client) =>
      client.callTool({ name, arguments: args }, { timeout: this.opts.timeoutMs }),
    );
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
