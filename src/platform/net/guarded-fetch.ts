import { Agent, fetch as undiciFetch } from 'undici';
import { BlockedOutboundAddress, blockedLiteral, guardedLookup } from './outbound-guard.js';

/** What fetch-shaped library hooks (openid-client's customFetch, jose's) pass in. */
export interface GuardedFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams | ArrayBuffer | Uint8Array | ReadableStream | null | undefined;
  redirect?: 'manual' | 'follow' | 'error';
  signal?: AbortSignal | null | undefined;
}

export type GuardedFetch = (url: string, init: GuardedFetchInit) => Promise<Response>;

/**
 * A fetch for addresses a tenant configured (an identity provider's discovery, JWKS, token and
 * userinfo endpoints): unless `allowPrivate` (OUTBOUND_ALLOW_PRIVATE_ADDRESSES), a literal
 * non-public IP is refused before dialling and a hostname is resolved once by the guarded lookup,
 * so a name resolving to a private address, now or after rebinding, never gets a connection.
 */
export function guardedFetch(allowPrivate: boolean, timeoutMs = 10_000): GuardedFetch {
  const dispatcher = new Agent({
    connect: { timeout: timeoutMs, ...(allowPrivate ? {} : { lookup: guardedLookup }) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return async (url, init) => {
    const blocked = allowPrivate ? undefined : blockedLiteral(url);
    if (blocked) throw new BlockedOutboundAddress(new URL(url).host, blocked);
    const res = await undiciFetch(url, {
      method: init.method ?? 'GET',
      headers: init.headers ?? {},
      body: init.body ?? null,
      redirect: init.redirect ?? 'manual',
      signal: init.signal ?? null,
      dispatcher,
    });
    // The global Response, which the libraries expect: same body, status and headers.
    return new Response(res.body, {
      status: res.status,
      statusText: res.statusText,
      headers: new Headers([...res.headers]),
    });
  };
}

/**
 * `fetch`, reporting each failure to reach the other side (no connection, TLS or certificate
 * errors, timeouts, or a 5xx answer) to `onFailure`. An address the guard refuses is a setting,
 * not an outage, and is not reported.
 */
export function reportingFailures(fetch: GuardedFetch, onFailure: () => void): GuardedFetch {
  return async (url, init) => {
    let res: Response;
    try {
      res = await fetch(url, init);
    } catch (err) {
      if (!(err instanceof BlockedOutboundAddress)) onFailure();
      throw err;
    }
    if (res.status >= 500) onFailure();
    return res;
  };
}
