import { NAV } from '../layout/nav';

/**
 * Where the console goes after a sign-in: the `next` parameter (set by /oauth/authorize, which
 * sends a signed-out person here) or the deep link the person opened. Only a same-origin path
 * with a known prefix is ever followed; anything else is ignored (an open redirect here would
 * hand a sign-in to whoever wrote the link).
 */

export const AUTHORIZE_PATH = '/oauth/authorize';
/** Console paths besides the navigation's own. */
const CONSOLE_PREFIXES = ['/documents'];
const STORAGE_KEY = 'rampart.returnTo';
/** A return path remembered across the single sign-on round trip is honoured this long. */
const REMEMBER_MS = 10 * 60_000;
// A parser that never sees the real origin: anything that changes it is not a path.
const PROBE_ORIGIN = 'https://console.invalid';
const MAX_LENGTH = 8192;

/** True for a path of the console's own pages. */
function isConsolePath(pathname: string): boolean {
  if (pathname === '/') return true;
  return [...NAV.map((n) => n.to), ...CONSOLE_PREFIXES].some(
    (p) => p !== '/' && (pathname === p || pathname.startsWith(`${p}/`)),
  );
}

/**
 * The path to go to, normalised, when `raw` is a same-origin path to the authorization endpoint
 * or to a console page; otherwise undefined. A single leading `/` only (`//host` and `/\host`
 * are other origins to a browser), no whitespace or control character (a parser drops `\t` and
 * `\n`, turning `/\t/host` into `//host`), no backslash before the query, no scheme.
 */
export function safeReturnPath(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return undefined;
  if (raw[0] !== '/' || raw[1] === '/' || raw[1] === '\\') return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return undefined;
  if ((raw.split(/[?#]/, 1)[0] ?? '').includes('\\')) return undefined;
  let url: URL;
  try {
    url = new URL(raw, PROBE_ORIGIN);
  } catch {
    return undefined;
  }
  if (url.origin !== PROBE_ORIGIN) return undefined;
  if (url.pathname !== AUTHORIZE_PATH && !isConsolePath(url.pathname)) return undefined;
  return `${url.pathname}${url.search}${url.hash}`;
}

/** True when the path is the authorization endpoint (server-rendered: a full page load). */
export function isAuthorizePath(path: string): boolean {
  return path === AUTHORIZE_PATH || path.startsWith(`${AUTHORIZE_PATH}?`);
}

/**
 * Where a sign-in made at `location` should return: its `next` parameter when it has one (and
 * nowhere when that is not acceptable), else the page itself unless it is Home.
 */
export function returnTargetOf(location: {
  pathname: string;
  search: string;
  hash: string;
}): string | undefined {
  const next = new URLSearchParams(location.search).get('next');
  if (next !== null) return safeReturnPath(next);
  const here = `${location.pathname}${location.search}${location.hash}`;
  return here === '/' ? undefined : safeReturnPath(here);
}

type Store = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

function sessionStore(): Store | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
}

/**
 * Keeps the return path for after the sign-in (the tab's sessionStorage survives the single
 * sign-on round trip; a path is no secret), or forgets any earlier one.
 */
export function rememberReturnPath(
  path: string | undefined,
  now = Date.now(),
  store: Store | undefined = sessionStore(),
): void {
  try {
    if (path === undefined) store?.removeItem(STORAGE_KEY);
    else store?.setItem(STORAGE_KEY, JSON.stringify({ path, at: now }));
  } catch {
    // Storage refused (private mode quotas): the sign-in still works, it lands on Home.
  }
}

/** The remembered return path, once: removed as it is read, checked again, and only if recent. */
export function takeReturnPath(
  now = Date.now(),
  store: Store | undefined = sessionStore(),
): string | undefined {
  try {
    const raw = store?.getItem(STORAGE_KEY);
    if (raw == null) return undefined;
    store?.removeItem(STORAGE_KEY);
    const saved: unknown = JSON.parse(raw);
    if (typeof saved !== 'object' || saved === null) return undefined;
    const path = 'path' in saved ? saved.path : undefined;
    const at = 'at' in saved ? saved.at : undefined;
    if (typeof at !== 'number' || now - at < 0 || now - at > REMEMBER_MS) return undefined;
    return safeReturnPath(path);
  } catch {
    return undefined;
  }
}
