import { z } from 'zod';
import { int, type SettingDef } from './config-schema.js';

/** Settings of the unauthenticated path (issue #21): throttling, negative cache, pre-auth budget. */
export const authSettings = {
  AUTH_FAILURES_PER_MINUTE: {
    schema: int(0, 1_000_000).default(30),
    description:
      'Failed authentications (401) one client address may cause per minute; beyond it the address gets 429 with Retry-After, from memory, until the minute ends (a key already verified and cached still works). Shared through REDIS_URL; TRUST_PROXY decides which address counts; IPv6 counts per /64. 0 disables.',
    defaultText: '30',
  },
  AUTH_FAILURES_PER_KEY_PREFIX_PER_MINUTE: {
    schema: int(0, 1_000_000).default(30),
    description:
      'The same limit per API-key prefix (the first 12 characters), against guessing the rest of a known key. 0 disables.',
    defaultText: '30',
  },
  AUTH_NEGATIVE_CACHE_TTL_MS: {
    schema: int(0, 3_600_000).default(30_000),
    description:
      'How long a key the database refused (unknown, revoked, expired) is refused again from memory, per process. 0 disables.',
    defaultText: '30000',
  },
  AUTH_PREAUTH_CONCURRENCY: {
    schema: int(1, 500).default(2),
    description:
      'Database lookups of not-yet-verified credentials running at once per process (a few more wait; beyond that 503). Keeps a flood of guessed keys from taking the connections authenticated requests need.',
    defaultText: '2',
  },
} satisfies Record<string, SettingDef>;

/** People signing in (issue #26): the public address and session lifetimes. */
export const sessionSettings = {
  PUBLIC_URL: {
    schema: z
      .string()
      .url()
      .refine((v) => /^https?:\/\/[^/?#]+\/?$/.test(v), 'must be an origin (scheme://host[:port])')
      .transform((v) => v.replace(/\/$/, ''))
      .optional(),
    description:
      'The public base URL people reach Rampart at (scheme://host[:port]): the OIDC redirect URI is PUBLIC_URL/auth/callback, and cookie-authenticated writes must come from this origin. Unset: http://localhost:PORT. Behind a proxy, also set TRUST_PROXY.',
  },
  SESSION_IDLE_TIMEOUT_MINUTES: {
    schema: int(1, 525_600).default(60),
    description:
      'A browser session ends after this long without a request (checked at most API_KEY_CACHE_TTL_MS late on each instance).',
    defaultText: '60',
  },
  SESSION_ABSOLUTE_TIMEOUT_HOURS: {
    schema: int(1, 8760).default(12),
    description: 'A browser session ends this long after sign-in, however active.',
    defaultText: '12',
  },
} satisfies Record<string, SettingDef>;

/** Rampart's own tokens for apps (issue #26): lifetimes and signing-key rotation. */
export const tokenSettings = {
  ACCESS_TOKEN_TTL_SECONDS: {
    schema: int(60, 86_400).default(600),
    description:
      'Lifetime of an access token from POST /auth/token (a JWT signed ES256). A revoked session, a revoked refresh-token family or a deactivated member stops it sooner (within API_KEY_CACHE_TTL_MS on every instance).',
    defaultText: '600',
  },
  REFRESH_TOKEN_TTL_HOURS: {
    schema: int(1, 8760).default(720),
    description:
      'A refresh token not exchanged within this long expires. Each exchange returns a new one (rotation).',
    defaultText: '720',
  },
  REFRESH_TOKEN_ABSOLUTE_DAYS: {
    schema: int(1, 3650).default(90),
    description:
      'A refresh-token family (one grant and all its rotations) ends this long after the grant, however active; the app then asks the person to sign in again.',
    defaultText: '90',
  },
  REFRESH_TOKEN_REUSE_GRACE_SECONDS: {
    schema: int(0, 300).default(5),
    description:
      'A refresh token already exchanged may be exchanged again within this many seconds (a client that retried after a lost answer); later, its reuse revokes the whole family.',
    defaultText: '5',
  },
  OAUTH_REGISTRATIONS_PER_MINUTE: {
    schema: int(0, 1_000_000).default(10),
    description:
      'OAuth client registrations (POST /oauth/register, RFC 7591) one client address may make per minute; beyond it 429 until the minute ends. Shared through REDIS_URL; TRUST_PROXY decides which address counts. 0 disables the limit.',
    defaultText: '10',
  },
  SIGNING_KEY_ROTATION_DAYS: {
    schema: int(1, 3650).default(30),
    description:
      'A token signing key older than this is replaced by a new one at the next token issued (or at once with `rampart tokens rotate-key`); the old key stays in /.well-known/jwks.json until the tokens it signed have expired.',
    defaultText: '30',
  },
} satisfies Record<string, SettingDef>;
