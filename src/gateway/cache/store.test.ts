import { describe, expect, it } from 'vitest';
import { cacheTtlSeconds, readCacheDirective } from './directive.js';
import { MemoryCacheStore } from './store.js';

describe('in-memory response cache', () => {
  it('expires entries after their TTL', async () => {
    let now = 1_000_000;
    const store = new MemoryCacheStore({ maxEntries: 10, maxBytes: 1_000_000 }, () => now);
    await store.set('k', 'v', 2);
    now += 1_999;
    expect(await store.get('k')).toBe('v');
    now += 1;
    expect(await store.get('k')).toBeUndefined();
    expect(store.size).toEqual({ entries: 0, bytes: 0 });
  });

  it('evicts the least recently used entry when a bound is passed', async () => {
    const store = new MemoryCacheStore({ maxEntries: 2, maxBytes: 1_000_000 });
    await store.set('a', '1', 60);
    await store.set('b', '2', 60);
    expect(await store.get('a')).toBe('1'); // 'a' is now the most recent
    await store.set('c', '3', 60);
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBe('1');
    expect(await store.get('c')).toBe('3');
  });

  it('keeps its bytes under the bound and skips an entry too large to keep', async () => {
    const store = new MemoryCacheStore({ maxEntries: 1_000, maxBytes: 1_000 });
    for (let i = 0; i < 20; i++) await store.set(`k${i}`, 'x'.repeat(40), 60);
    expect(store.size.bytes).toBeLessThanOrEqual(1_000);
    expect(await store.get('k19')).toBe('x'.repeat(40));
    expect(await store.get('k0')).toBeUndefined();
    await store.set('big', 'y'.repeat(200), 60);
    expect(await store.get('big')).toBeUndefined();
    expect(await store.get('k19')).toBe('x'.repeat(40));
  });
});

describe('cache directives', () => {
  it('reads the headers and rejects bad values', () => {
    expect(readCacheDirective({ 'x-rampart-cache': 'ON', 'x-rampart-cache-ttl': '30' })).toEqual({
      mode: 'on',
      ttlSeconds: 30,
    });
    expect(() => readCacheDirective({ 'x-rampart-cache': 'yes' })).toThrow(/on' or 'off/);
    expect(() => readCacheDirective({ 'x-rampart-cache-ttl': '0' })).toThrow(/1 to 604800/);
    expect(() => readCacheDirective({ 'x-rampart-cache-ttl': '1.5' })).toThrow(/1 to 604800/);
  });

  it('never caches streams; off wins; on or a TTL opts in; else the route decides', () => {
    const none = { mode: undefined, ttlSeconds: undefined };
    const route = { ttlSeconds: 60 };
    expect(cacheTtlSeconds(none, route, true, 300)).toBeUndefined();
    expect(cacheTtlSeconds({ mode: 'off', ttlSeconds: 5 }, route, false, 300)).toBeUndefined();
    expect(cacheTtlSeconds(none, undefined, false, 300)).toBeUndefined();
    expect(cacheTtlSeconds(none, route, false, 300)).toBe(60);
    expect(cacheTtlSeconds({ mode: 'on', ttlSeconds: undefined }, undefined, false, 300)).toBe(300);
    expect(cacheTtlSeconds({ mode: undefined, ttlSeconds: 7 }, route, false, 300)).toBe(7);
  });
});
