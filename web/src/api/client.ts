import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

/**
 * The typed API client. Credentials: the session cookie (same origin; writes echo the CSRF
 * token from the readable rampart_csrf cookie), or an API key pasted at sign-in, which lives
 * in this module's memory only: never in localStorage, gone on reload.
 */
let apiKey: string | undefined;
const lostListeners = new Set<() => void>();

export function setApiKey(key: string | undefined): void {
  apiKey = key;
}

export function usingApiKey(): boolean {
  return apiKey !== undefined;
}

/** Called when a request that carried credentials is refused with 401 (the session ended). */
export function onSessionLost(listener: () => void): () => void {
  lostListeners.add(listener);
  return () => lostListeners.delete(listener);
}

/** The session's CSRF token (`rampart_csrf`, or `__Host-rampart_csrf` outside localhost). */
export function csrfToken(): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === 'rampart_csrf' || name === '__Host-rampart_csrf') return rest.join('=');
  }
  return undefined;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Headers that authenticate a request made outside the typed client (uploads, streams). */
export function authHeaders(method: string): Record<string, string> {
  if (apiKey) return { authorization: `Bearer ${apiKey}` };
  const csrf = csrfToken();
  return !SAFE.has(method.toUpperCase()) && csrf ? { 'x-csrf-token': csrf } : {};
}

/** Tells the listeners a 401 arrived on a request that had credentials. */
export function noteStatus(status: number, url: string): void {
  if (status === 401 && !url.includes('/auth/')) for (const l of lostListeners) l();
}

const auth: Middleware = {
  onRequest({ request }) {
    for (const [name, value] of Object.entries(authHeaders(request.method)))
      request.headers.set(name, value);
    return request;
  },
  onResponse({ response, request }) {
    noteStatus(response.status, request.url);
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' });
api.use(auth);
