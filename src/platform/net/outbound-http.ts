import { Agent } from 'undici';
import { BlockedOutboundAddress, blockedLiteral, guardedLookup } from './outbound-guard.js';

/**
 * HTTP requests to addresses a tenant configured (copilot HTTP actions today; webhooks next).
 * Unless the operator allows private addresses (OUTBOUND_ALLOW_PRIVATE_ADDRESSES), every
 * connection goes through the guarded DNS lookup and literal non-public IPs are refused before
 * dialling. Redirects are followed here, not by undici, so each hop is checked the same way;
 * credentials (Authorization) are not carried to another origin.
 */
export interface OutboundRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  body?: string | undefined;
  timeoutMs: number;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text, cut at maxBodyBytes. */
  body: string;
  /** The URL that answered (after redirects). */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class OutboundHttp {
  readonly #agent: Agent;

  constructor(
    private readonly opts: {
      allowPrivate: boolean;
      maxRedirects?: number;
      maxBodyBytes?: number;
    },
  ) {
    this.#agent = new Agent({
      connect: { timeout: 10_000, ...(opts.allowPrivate ? {} : { lookup: guardedLookup }) },
      keepAliveTimeout: 10_000,
    });
  }

  /** Sends the request, following up to maxRedirects redirects, each hop under the guard. */
  async send(req: OutboundRequest): Promise<OutboundResponse> {
    const signal = AbortSignal.timeout(req.timeoutMs);
    let url = new URL(req.url);
    let { method, body } = req;
    let headers = { ...req.headers };
    const maxRedirects = this.opts.maxRedirects ?? 5;
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new Error(`unsupported URL scheme ${url.protocol}`);
      const literal = this.opts.allowPrivate ? undefined : blockedLiteral(url);
      if (literal) throw new BlockedOutboundAddress(url.host, literal);
      const res = await this.#agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        body: body ?? null,
        signal,
      });
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode) && typeof location === 'string' && hop < maxRedirects) {
        await res.body.dump();
        const next = new URL(location, url);
        if (next.origin !== url.origin) {
          headers = Object.fromEntries(
            Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'),
          );
        }
        // 303 (and, as browsers do, 301/302 after a POST) continue as a GET without a body.
        if (res.statusCode === 303 || (res.statusCode <= 302 && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        url = next;
        continue;
      }
      const text = await readLimited(res.body, this.opts.maxBodyBytes ?? 1_000_000);
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
      return { status: res.statusCode, headers: flat, body: text, url: url.toString() };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

async function readLimited(body: AsyncIterable<Uint8Array>, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = Buffer.from(chunk);
    if (size + b.length > max) {
      parts.push(b.subarray(0, max - size));
      break;
    }
    parts.push(b);
    size += b.length;
  }
  return Buffer.concat(parts).toString('utf8');
}
