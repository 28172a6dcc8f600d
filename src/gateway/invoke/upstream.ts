import { Agent, errors, type Dispatcher } from 'undici';
import type { UpstreamCall } from '../providers/types.js';
import type { CancelSignal } from './cancel.js';
import {
  BlockedOutboundAddress,
  blockedLiteral,
  guardedLookup,
} from '../../platform/net/outbound-guard.js';

export interface UpstreamTimeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/** The upstream could not be reached or did not answer in time; another target may be tried. */
export class UpstreamUnavailable extends Error {
  constructor(
    message: string,
    readonly kind: 'connect' | 'timeout' | 'reset',
  ) {
    super(message);
    this.name = 'UpstreamUnavailable';
  }
}

function classify(err: unknown): UpstreamUnavailable | undefined {
  if (err instanceof BlockedOutboundAddress) return new UpstreamUnavailable(err.message, 'connect');
  if (err instanceof errors.ConnectTimeoutError)
    return new UpstreamUnavailable('connect timeout', 'timeout');
  if (err instanceof errors.HeadersTimeoutError)
    return new UpstreamUnavailable('no response before the first-byte timeout', 'timeout');
  if (err instanceof errors.BodyTimeoutError)
    return new UpstreamUnavailable('response stalled', 'timeout');
  if (err instanceof errors.SocketError)
    return new UpstreamUnavailable('connection reset', 'reset');
  const code = (err as { code?: unknown } | null)?.code;
  if (
    typeof code === 'string' &&
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE)$/.test(code)
  )
    return new UpstreamUnavailable(
      `cannot reach the upstream (${code})`,
      code === 'ECONNRESET' ? 'reset' : 'connect',
    );
  return undefined;
}

interface ParsedTarget {
  origin: string;
  path: string;
  host: string;
  /** The address when the URL's host is a literal non-public IP. */
  blocked: string | undefined;
}

// Adapters hand out the same few URL strings (one per provider and endpoint): parsed once.
const parsed = new Map<string, ParsedTarget>();
const PARSED_MAX = 1024;

function parsedTarget(url: string): ParsedTarget {
  let t = parsed.get(url);
  if (!t) {
    const u = new URL(url);
    t = {
      origin: u.origin,
      path: `${u.pathname}${u.search}`,
      host: u.host,
      blocked: blockedLiteral(u),
    };
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(url, t);
  }
  return t;
}

/**
 * HTTP to upstream providers over one keep-alive connection pool per origin (undici Agent).
 * Timeouts: connect, first byte (response headers) and idle (silence between body chunks).
 * Unless `allowPrivate`, calls for tenant-configured providers go through an agent whose DNS
 * lookup refuses non-public addresses (and literal non-public IPs are refused before dialling);
 * operator-configured (trusted) providers use an unguarded agent.
 */
export class UpstreamClient {
  readonly #trusted: Agent;
  readonly #tenant: Agent;

  constructor(
    timeouts: UpstreamTimeouts,
    private readonly allowPrivate = false,
  ) {
    const agent = (lookup?: typeof guardedLookup) =>
      new Agent({
        connect: { timeout: timeouts.connectMs, ...(lookup ? { lookup } : {}) },
        headersTimeout: timeouts.firstByteMs,
        bodyTimeout: timeouts.idleMs,
        keepAliveTimeout: 30_000,
        connections: 256,
      });
    this.#trusted = agent();
    this.#tenant = allowPrivate ? this.#trusted : agent(guardedLookup);
  }

  async post(call: UpstreamCall, signal: CancelSignal, trusted = false): Promise<UpstreamResponse> {
    try {
      const target = parsedTarget(call.url);
      if (!trusted && !this.allowPrivate && target.blocked)
        // An IP literal is dialled without a lookup, so the guarded lookup never sees it.
        throw new BlockedOutboundAddress(target.host, target.blocked);
      // The dispatcher's own request() with origin and path: undici's top-level request(url)
      // re-parses the URL and its options on every call (about 12 µs more per request here).
      const res = await (trusted ? this.#trusted : this.#tenant).request({
        origin: target.origin,
        path: target.path,
        method: 'POST',
        headers: call.headers,
        body: call.body,
        // undici takes any EventTarget-like signal; its type names only AbortSignal.
        signal: signal,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw classify(err) ?? err;
    }
  }

  /** Maps a failure while reading an upstream body the same way as one while connecting. */
  static classify(err: unknown): unknown {
    return classify(err) ?? err;
  }

  async close(): Promise<void> {
    await this.#trusted.close();
    if (this.#tenant !== this.#trusted) await this.#tenant.close();
  }
}
