import { describe, expect, it } from 'vitest';
import type { Principal } from '../platform/http/principal.js';
import { KeyCache } from './key-cache.js';

function principal(keyId: string): Principal {
  return {
    kind: 'api_key',
    tenantId: 't',
    tenantSlug: 't',
    userId: null,
    keyId,
    role: 'member',
    permissions: new Set(['tenant:read']),
    groups: [],
  };
}

/** A cache on a hand-driven clock. */
function cache(ttlMs: number, maxEntries = 100) {
  const clock = { now: 1_000_000 };
  return { clock, c: new KeyCache(ttlMs, maxEntries, () => clock.now) };
}

describe('KeyCache', () => {
  it('returns what was stored until the TTL runs out, then forgets it', () => {
    const { clock, c } = cache(1000);
    const p = principal('k1');
    c.set('h1', p, null);
    expect(c.get('h1')).toBe(p);
    clock.now += 999;
    expect(c.get('h1')).toBe(p);
    clock.now += 1;
    expect(c.get('h1')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('never serves a key past its own expiry, even inside the TTL', () => {
    const { clock, c } = cache(60_000);
    c.set('h1', principal('k1'), new Date(clock.now + 500));
    expect(c.get('h1')).toBeDefined();
    clock.now += 500;
    expect(c.get('h1')).toBeUndefined();
  });

  it('evictKey drops every cached hash of that key and nothing else', () => {
    const { c } = cache(60_000);
    c.set('h1', principal('k1'), null);
    c.set('h2', principal('k1'), null);
    c.set('h3', principal('k2'), null);
    c.evictKey('k1');
    expect(c.get('h1')).toBeUndefined();
    expect(c.get('h2')).toBeUndefined();
    expect(c.get('h3')?.keyId).toBe('k2');
    expect(c.size).toBe(1);
    c.evictKey('unknown');
    expect(c.size).toBe(1);
  });

  it('is bounded: the oldest entry goes first', () => {
    const { c } = cache(60_000, 2);
    c.set('h1', principal('k1'), null);
    c.set('h2', principal('k2'), null);
    c.set('h3', principal('k3'), null);
    expect(c.size).toBe(2);
    expect(c.get('h1')).toBeUndefined();
    expect(c.get('h2')?.keyId).toBe('k2');
    expect(c.get('h3')?.keyId).toBe('k3');
    // The evicted key's index is gone too: evicting it later touches nothing.
    c.evictKey('k1');
    expect(c.size).toBe(2);
  });

  it('caches nothing with a TTL of 0', () => {
    const { c } = cache(0);
    c.set('h1', principal('k1'), null);
    expect(c.get('h1')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('clear() forgets everything (a lost notification connection)', () => {
    const { c } = cache(60_000);
    c.set('h1', principal('k1'), null);
    c.set('h2', principal('k2'), null);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.get('h1')).toBeUndefined();
  });
});
