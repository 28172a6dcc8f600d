import { InvalidInput } from '../../platform/http/errors.js';
import type { RouteCache } from '../config/routing-store.js';

/** Request header turning the response cache on or off for one request. */
export const CACHE_HEADER = 'x-rampart-cache';
/** Request header giving the lifetime (seconds) of an entry this request stores. */
export const CACHE_TTL_HEADER = 'x-rampart-cache-ttl';
const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** What the client asked of the cache through the request headers. */
export interface CacheDirective {
  mode: 'on' | 'off' | undefined;
  ttlSeconds: number | undefined;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Reads x-rampart-cache (on|off) and x-rampart-cache-ttl (1..604800); other values are a 400. */
export function readCacheDirective(
  headers: Record<string, string | string[] | undefined>,
): CacheDirective {
  const rawMode = single(headers[CACHE_HEADER])?.trim().toLowerCase();
  const rawTtl = single(headers[CACHE_TTL_HEADER])?.trim();
  if (rawMode !== undefined && rawMode !== 'on' && rawMode !== 'off')
    throw new InvalidInput(`header ${CACHE_HEADER}: expected 'on' or 'off'`, {
      errors: [{ field: `headers.${CACHE_HEADER}`, message: "expected 'on' or 'off'" }],
    });
  let ttlSeconds: number | undefined;
  if (rawTtl !== undefined) {
    ttlSeconds = /^\d{1,7}$/.test(rawTtl) ? Number(rawTtl) : NaN;
    if (!(ttlSeconds >= 1 && ttlSeconds <= MAX_TTL_SECONDS))
      throw new InvalidInput(`header ${CACHE_TTL_HEADER}: expected whole seconds, 1 to 604800`, {
        errors: [{ field: `headers.${CACHE_TTL_HEADER}`, message: 'expected 1 to 604800' }],
      });
  }
  return { mode: rawMode, ttlSeconds };
}

/**
 * The lifetime to cache this request's answer for, or undefined for no caching. A stream is
 * never cached; `off` always wins; `on` (or a TTL header alone) caches even where the route
 * does not; otherwise the route decides. The TTL is the header's, else the route's, else the
 * configured default.
 */
export function cacheTtlSeconds(
  directive: CacheDirective | undefined,
  route: RouteCache | undefined,
  stream: boolean,
  defaultTtlSeconds: number,
): number | undefined {
  if (stream || directive?.mode === 'off') return undefined;
  const asked = directive?.mode === 'on' || directive?.ttlSeconds !== undefined;
  if (!asked && !route) return undefined;
  return directive?.ttlSeconds ?? route?.ttlSeconds ?? defaultTtlSeconds;
}
