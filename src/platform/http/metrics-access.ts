import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

/**
 * Who may read /metrics (the API's and a `rampart worker`'s). The gateway's series name
 * tenants' aliases, providers and models, so the endpoint is never open to the network:
 *
 * - with METRICS_TOKEN set, any client that sends `Authorization: Bearer <token>`;
 * - without it, only a client on this host: the connection's both ends are loopback addresses
 *   and the request carries no forwarding header. The socket is asked, not `request.ip`, which
 *   TRUST_PROXY lets a client choose. Checking the local end as well refuses a sidecar proxy
 *   that reaches the service on the pod address from 127.0.0.x (Istio's 127.0.0.6); the
 *   forwarding headers refuse a reverse proxy on the same host that says whom it relays for.
 *   A same-host proxy that relays /metrics and sends none of them cannot be told from a local
 *   scraper: set METRICS_TOKEN there (docs/operations.md says so).
 */
export type MetricsRefusal = 'metrics_token_required' | 'metrics_loopback_only';

/** What the access rule reads of a request: its headers and the two ends of its connection. */
export interface MetricsRequest {
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string | undefined; localAddress?: string | undefined };
}

const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/** Compares a bearer token in constant time (digests first, so lengths leak nothing either). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(token)) && m !== null;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x (a dual-stack socket's view of IPv4 loopback). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/** Why this request may not read /metrics, or undefined when it may. */
export function metricsRefusal(
  token: string | undefined,
  request: MetricsRequest,
): MetricsRefusal | undefined {
  if (token !== undefined)
    return bearerMatches(request.headers.authorization, token)
      ? undefined
      : 'metrics_token_required';
  const { remoteAddress, localAddress } = request.socket;
  // An injected request (light-my-request, in-process tests) has no local end; a connected TCP
  // socket always has one, so this cannot let a network client through.
  const localIsLoopback = localAddress === undefined || isLoopbackAddress(localAddress);
  if (!isLoopbackAddress(remoteAddress) || !localIsLoopback) return 'metrics_loopback_only';
  for (const h of FORWARDING_HEADERS)
    if (request.headers[h] !== undefined) return 'metrics_loopback_only';
  return undefined;
}

/** The sentence a refused scrape gets. */
export const METRICS_REFUSAL_MESSAGE: Record<MetricsRefusal, string> = {
  metrics_token_required: 'GET /metrics requires the metrics token.',
  metrics_loopback_only:
    'GET /metrics answers only local clients while METRICS_TOKEN is unset; set METRICS_TOKEN to scrape over the network.',
};
