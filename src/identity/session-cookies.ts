import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The browser side of sessions: cookie names and attributes, the opaque session token, its
 * keyed hash (what the database stores), the CSRF token bound to it, and the sealed sign-in
 * state that carries PKCE verifier, state and nonce from /auth/:tenant/login to /auth/callback.
 */

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface CookieNames {
  session: string;
  csrf: string;
  login: string;
  /** Secure attribute (and the __Host- prefix, which requires it) outside localhost. */
  secure: boolean;
}

export function cookieNames(publicUrl: string): CookieNames {
  const secure = !LOCAL_HOSTS.has(new URL(publicUrl).hostname);
  const p = secure ? '__Host-' : '';
  return {
    session: `${p}rampart_session`,
    csrf: `${p}rampart_csrf`,
    login: `${p}rampart_login`,
    secure,
  };
}

/** Serialises one Set-Cookie value (Path=/ and no Domain, as __Host- requires). */
export function setCookie(
  names: CookieNames,
  name: string,
  value: string,
  opts: { maxAgeS: number; httpOnly: boolean },
): string {
  return [
    `${name}=${value}`,
    'Path=/',
    `Max-Age=${Math.max(0, Math.floor(opts.maxAgeS))}`,
    'SameSite=Lax',
    ...(opts.httpOnly ? ['HttpOnly'] : []),
    ...(names.secure ? ['Secure'] : []),
  ].join('; ');
}

export function appendCookies(reply: FastifyReply, cookies: string[]): void {
  const prior = reply.getHeader('set-cookie');
  const list = Array.isArray(prior) ? prior : typeof prior === 'string' ? [prior] : [];
  reply.header('set-cookie', [...list, ...cookies]);
}

/** One cookie's value from the request's Cookie header. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export const SESSION_TOKEN_PREFIX = 'rms_';
const SESSION_TOKEN = /^rms_[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return `${SESSION_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function looksLikeSessionToken(value: string): boolean {
  return SESSION_TOKEN.test(value);
}

export function hashSessionToken(serverSecret: string, token: string): Buffer {
  return createHmac('sha256', serverSecret).update(`session:${token}`).digest();
}

/** The CSRF token of a session: derived, so nothing more is stored (signed double submit). */
export function csrfTokenFor(serverSecret: string, sessionToken: string): string {
  return createHmac('sha256', serverSecret).update(`csrf:${sessionToken}`).digest('base64url');
}

export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** What the browser carries between the login redirect and the callback. */
export interface LoginState {
  tenantId: string;
  tenantSlug: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  expiresAt: number;
}

function sealKey(serverSecret: string): Buffer {
  return createHash('sha256').update(`rampart-login-state:${serverSecret}`).digest();
}

/** AES-256-GCM under a key derived from the server secret: unreadable and tamper-evident. */
export function sealLoginState(serverSecret: string, s: LoginState): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(serverSecret), iv);
  const ct = Buffer.concat([cipher.update(JSON.stringify(s), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

/** The sign-in state, or undefined when it was tampered with, is malformed or has expired. */
export function openLoginState(serverSecret: string, sealed: string): LoginState | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', sealKey(serverSecret), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString(
      'utf8',
    );
    const parsed: unknown = JSON.parse(text);
    if (!isLoginState(parsed) || parsed.expiresAt <= Date.now()) return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

function isLoginState(v: unknown): v is LoginState {
  if (typeof v !== 'object' || v === null) return false;
  const o: Record<string, unknown> = { ...v };
  return (
    ['tenantId', 'tenantSlug', 'state', 'nonce', 'codeVerifier'].every(
      (k) => typeof o[k] === 'string',
    ) && typeof o.expiresAt === 'number'
  );
}
