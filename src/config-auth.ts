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
