import { expect } from 'vitest';
import type { TestApp } from './app.js';

export const PUBLIC_URL = 'https://rampart.test';
export const PEOPLE_ENV = {
  PUBLIC_URL,
  RAMPART_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
};
export const GOOD_PASSWORD = 'correct horse battery staple';

export interface SignedIn {
  userId: string;
  /** The Cookie header a browser would send back. */
  cookie: string;
  csrf: string;
  /** Headers of a same-origin, cookie-authenticated write. */
  writeHeaders: Record<string, string>;
}

/** The Cookie header a browser would send back after this answer, and its CSRF token. */
export function cookiesOf(res: { headers: Record<string, unknown> }): {
  cookie: string;
  csrf: string;
} {
  const set = [res.headers['set-cookie']].flat().filter((c): c is string => typeof c === 'string');
  const pairs = set.map((c) => c.split(';')[0] ?? '');
  const csrf = pairs.find((p) => p.startsWith('__Host-rampart_csrf='))?.split('=')[1] ?? '';
  return { cookie: pairs.join('; '), csrf };
}

/** Invites `email` as a local account of the tenant, sets a password and signs in. */
export async function signedInMember(
  app: TestApp,
  tenant: { slug: string; ownerKey: string },
  email: string,
  role = 'member',
): Promise<SignedIn> {
  const inv = await app.app.inject({
    method: 'POST',
    url: '/v1/users/invitations',
    headers: { authorization: `Bearer ${tenant.ownerKey}` },
    payload: { email, role },
  });
  expect(inv.statusCode, inv.body).toBe(201);
  const accept = await app.app.inject({
    method: 'POST',
    url: '/auth/invitations/accept',
    payload: { token: inv.json<{ token: string }>().token, password: GOOD_PASSWORD },
  });
  expect(accept.statusCode, accept.body).toBe(201);
  const res = await app.app.inject({
    method: 'POST',
    url: `/auth/${tenant.slug}/password`,
    payload: { email, password: GOOD_PASSWORD },
  });
  expect(res.statusCode, res.body).toBe(200);
  const { cookie, csrf } = cookiesOf(res);
  const me = await app.app.inject({ method: 'GET', url: '/v1/me', headers: { cookie } });
  const userId = me.json<{ principal: { userId: string } }>().principal.userId;
  return {
    userId,
    cookie,
    csrf,
    writeHeaders: { cookie, origin: PUBLIC_URL, 'x-csrf-token': csrf },
  };
}
