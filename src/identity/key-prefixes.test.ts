import { describe, expect, it } from 'vitest';
import { KeyPrefixSet, RecentTokens } from './key-prefixes.js';

describe('KeyPrefixSet', () => {
  it('answers "maybe" until loaded, then only for known prefixes', async () => {
    const set = new KeyPrefixSet();
    expect(set.mayExist('rmp_aaaaaaaa')).toBe(true);
    await set.reload(async () => ['rmp_aaaaaaaa']);
    expect(set.mayExist('rmp_aaaaaaaa')).toBe(true);
    expect(set.mayExist('rmp_bbbbbbbb')).toBe(false);
    set.add('rmp_bbbbbbbb');
    expect(set.mayExist('rmp_bbbbbbbb')).toBe(true);
  });

  it('keeps a prefix announced while a load was running (the snapshot may predate it)', async () => {
    const set = new KeyPrefixSet();
    await set.reload(async () => {
      set.add('rmp_during00');
      return ['rmp_snapshot'];
    });
    expect(set.mayExist('rmp_during00')).toBe(true);
    expect(set.mayExist('rmp_snapshot')).toBe(true);
  });

  it('after an invalidation (missed notifications) answers "maybe" until reloaded', async () => {
    const set = new KeyPrefixSet();
    await set.reload(async () => []);
    set.invalidate();
    expect(set.mayExist('rmp_unknown0')).toBe(true);
    // A load that started before the invalidation does not count as fresh.
    await set.reload(async () => {
      set.invalidate();
      return [];
    });
    expect(set.ready).toBe(false);
    await set.reload(async () => []);
    expect(set.mayExist('rmp_unknown0')).toBe(false);
  });
});

describe('RecentTokens', () => {
  it('remembers a refusal for its TTL, bounded oldest-first', () => {
    let now = 0;
    const cache = new RecentTokens<string>(1000, 2, () => now);
    cache.set('a', 'unknown_key');
    cache.set('b', 'revoked_key');
    cache.set('c', 'unknown_key');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBe('revoked_key');
    now = 1000;
    expect(cache.get('b')).toBeUndefined();
    const off = new RecentTokens<string>(0);
    off.set('a', 'x');
    expect(off.get('a')).toBeUndefined();
  });
});
