import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutboundHttp } from '../platform/net/outbound-http.js';

/** An answer of Rampart's API as the runner reads it. */
export interface ApiResponse {
  status: number;
  body: unknown;
  /** The x-request-id the server gave the request (feedback and logs name it). */
  requestId: string | undefined;
  /** True when it came from the response cache, not the server. */
  cached?: boolean;
}

/**
 * How the runner calls Rampart: in-process (Fastify's inject on an app built over the configured
 * database, with the caller's own credential) or over HTTP against a running server. Both go
 * through authentication, permissions, limits and metering exactly like any client.
 */
export type RampartClient = (
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  /** Distinguishes otherwise identical requests in the cache (a judge's repeat number). */
  variant?: string,
) => Promise<ApiResponse>;

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A client for a running Rampart at `baseUrl`, authenticated with `key`. */
export function httpClient(
  http: OutboundHttp,
  baseUrl: string,
  key: string,
  timeoutMs = 120_000,
): RampartClient {
  const root = baseUrl.replace(/\/+$/u, '');
  return async (method, path, body) => {
    const res = await http.send({
      method,
      url: `${root}${path}`,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      timeoutMs,
    });
    return {
      status: res.status,
      body: parseBody(res.body),
      requestId: res.headers['x-request-id'],
    };
  };
}

/** What Fastify's inject returns, narrowed to what the client reads. */
export interface InjectedResponse {
  statusCode: number;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
}
export type Inject = (opts: {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  payload?: string;
}) => Promise<InjectedResponse>;

/** A client over an in-process app: the request carries the given credential headers. */
export function injectClient(inject: Inject, credentials: Record<string, string>): RampartClient {
  return async (method, path, body) => {
    const res = await inject({
      method,
      url: path,
      headers: {
        ...credentials,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    const id = res.headers['x-request-id'];
    return {
      status: res.statusCode,
      body: parseBody(res.body),
      requestId: typeof id === 'string' ? id : undefined,
    };
  };
}

/** The cache key of a request: method, path and canonical body. Credentials are not part of it. */
export function requestHash(method: string, path: string, body: unknown, variant = ''): string {
  return createHash('sha256')
    .update(`${method} ${path} ${variant}\n${JSON.stringify(body ?? null)}`)
    .digest('hex');
}

/**
 * Caches successful POST answers (model and target calls) on disk by request hash, so a re-run
 * sees the same responses and scores the same: a reproducible run. GETs (polling) are not cached.
 */
export function cachingClient(inner: RampartClient, dir: string): RampartClient {
  return async (method, path, body, variant) => {
    if (method !== 'POST') return inner(method, path, body);
    const file = join(dir, `${requestHash(method, path, body, variant)}.json`);
    try {
      const hit = JSON.parse(await readFile(file, 'utf8')) as Omit<ApiResponse, 'cached'>;
      return { ...hit, cached: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const res = await inner(method, path, body);
    if (res.status >= 200 && res.status < 300) {
      await mkdir(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(
        tmp,
        JSON.stringify({ status: res.status, body: res.body, requestId: res.requestId }),
      );
      await rename(tmp, file);
    }
    return res;
  };
}
