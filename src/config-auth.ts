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
