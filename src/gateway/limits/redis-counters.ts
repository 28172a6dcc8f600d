import type { Redis } from 'ioredis';
import type { AcquireResult, Counter, CounterStore } from './counters.js';
import { WINDOW_MS } from './counters.js';

// One round trip checks and increments every counter atomically (a Lua script runs alone on
// the server), so N replicas share one limit exactly. ARGV per counter: kind, limit, cost.
// Window keys get the window number from the server clock appended and expire with it; gauges
// get a safety TTL so a crashed replica's slots come back eventually.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = math.floor(now / ${WINDOW_MS})
local reset = ${WINDOW_MS} - (now % ${WINDOW_MS})
local used = {}
local names = {}
for i = 1, #KEYS do
  local kind = ARGV[(i - 1) * 3 + 1]
  local name = KEYS[i]
  if kind == 'window' then name = name .. ':' .. window end
  names[i] = name
  used[i] = tonumber(redis.call('GET', name) or '0')
end
for i = 1, #KEYS do
  local limit = tonumber(ARGV[(i - 1) * 3 + 2])
  local cost = tonumber(ARGV[(i - 1) * 3 + 3])
  if used[i] + cost > limit then
    return {i, reset, unpack(used)}
  end
end
for i = 1, #KEYS do
  local kind = ARGV[(i - 1) * 3 + 1]
  local cost = tonumber(ARGV[(i - 1) * 3 + 3])
  used[i] = redis.call('INCRBY', names[i], cost)
  if kind == 'window' then redis.call('PEXPIRE', names[i], ${WINDOW_MS * 2})
  else redis.call('PEXPIRE', names[i], 600000) end
end
return {0, reset, unpack(used)}
`;

const ADJUST = `
local t = redis.call('TIME')
local window = math.floor((tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) / ${WINDOW_MS})
for i = 1, #KEYS do
  local name = KEYS[i]
  if ARGV[(i - 1) * 2 + 1] == 'window' then name = name .. ':' .. window end
  local v = redis.call('INCRBY', name, tonumber(ARGV[(i - 1) * 2 + 2]))
  if v <= 0 then redis.call('DEL', name) end
end
return 1
`;

/** The Redis-backed store; callers wrap it in timeouts and a circuit breaker. */
export class RedisCounters implements CounterStore {
  constructor(private readonly redis: Redis) {}

  async acquire(counters: Counter[]): Promise<AcquireResult> {
    if (counters.length === 0) return { ok: true, used: [], resetMs: WINDOW_MS };
    const args = counters.flatMap((c) => [c.kind, String(c.limit), String(c.cost)]);
    const out = (await this.redis.eval(
      ACQUIRE,
      counters.length,
      ...counters.map((c) => c.key),
      ...args,
    )) as number[];
    const [failed = 0, resetMs = WINDOW_MS, ...used] = out.map(Number);
    return failed === 0
      ? { ok: true, used, resetMs }
      : { ok: false, failed: failed - 1, used, resetMs };
  }

  async adjust(items: { kind: 'window' | 'gauge'; key: string; delta: number }[]): Promise<void> {
    const live = items.filter((i) => i.delta !== 0);
    if (live.length === 0) return;
    await this.redis.eval(
      ADJUST,
      live.length,
      ...live.map((i) => i.key),
      ...live.flatMap((i) => [i.kind, String(Math.round(i.delta))]),
    );
  }
}
