import type { Redis } from 'ioredis';
import type { AcquireResult, Counter } from './counters.js';
import { WINDOW_MS } from './counters.js';

/** A budget reservation for the admit script: the budget's hash key and its reservations zset. */
export interface BudgetHold {
  key: string;
  budgetTicks: number;
  costTicks: number;
  ttlMs: number;
}

export type AdmitResult =
  | (AcquireResult & { budgetFailed?: undefined; missing?: undefined })
  | { ok: false; budgetFailed: number; used: number[]; resetMs: number; missing?: undefined }
  | { missing: number[] };

// ONE round trip admits a request: it checks every RPM/TPM/concurrency counter of the key and
// the tenant and every budget, then increments all of them or none (a Lua script runs alone on
// the server, so N replicas share one limit exactly). Window keys get the window number from the
// server clock appended and expire with it; gauges get a safety TTL so a dead replica's slots
// come back. Budgets: a hash {spent, reserved} in ticks of 1e-10 USD plus a zset of the
// reservations in flight ("id:ticks", scored by when they were made). A budget hash that does
// not exist (Redis restarted, period just began) is reported as missing: Postgres holds the
// durable spend, the caller seeds the hash from it and calls again. Expired reservations (a
// replica died before settling) are swept only when a budget would refuse without the sweep:
// they matter only then, and the common path stays short (every redis.call costs ~1 µs of the
// single-threaded server, the budget of the whole gateway).
// ARGV: nCounters, nBudgets, reservation id, reclaim age ms, then per counter kind, limit, cost,
// then per budget budget ticks, cost ticks, key TTL ms. KEYS: counters, then per budget hash, zset.
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = math.floor(now / ${WINDOW_MS})
local reset = ${WINDOW_MS} - (now % ${WINDOW_MS})
local nc = tonumber(ARGV[1])
local nb = tonumber(ARGV[2])
local id = ARGV[3]
local b = 4 + nc * 3
local function counterKey(i)
  if ARGV[4 + (i - 1) * 3 + 1] == 'window' then return KEYS[i] .. ':' .. window end
  return KEYS[i]
end
local state = {}
local missing = {}
for j = 1, nb do
  local v = redis.call('HMGET', KEYS[nc + 2 * j - 1], 'spent', 'reserved')
  if not v[1] then missing[#missing + 1] = j end
  state[j] = {tonumber(v[1] or '0'), tonumber(v[2] or '0')}
end
if #missing > 0 then return {-1, reset, unpack(missing)} end
local used = {}
for j = 1, nb do
  local cost = tonumber(ARGV[b + (j - 1) * 3 + 2])
  local budget = tonumber(ARGV[b + (j - 1) * 3 + 1])
  if state[j][1] + state[j][2] + cost > budget then
    local h = KEYS[nc + 2 * j - 1]
    local z = KEYS[nc + 2 * j]
    local expired = redis.call('ZRANGEBYSCORE', z, '-inf', now - tonumber(ARGV[4]), 'LIMIT', 0, 1024)
    if #expired > 0 then
      local freed = 0
      for _, m in ipairs(expired) do freed = freed + tonumber(string.match(m, ':(%d+)$')) end
      redis.call('ZREM', z, unpack(expired))
      local left = redis.call('HINCRBY', h, 'reserved', -freed)
      if left < 0 then redis.call('HSET', h, 'reserved', 0) left = 0 end
      state[j][2] = left
    end
    if state[j][1] + state[j][2] + cost > budget then
      for i = 1, nc do used[i] = tonumber(redis.call('GET', counterKey(i)) or '0') end
      return {nc + j, reset, unpack(used)}
    end
  end
end
-- Counters optimistically: increment, and undo all of them if one passes its limit (the
-- refusal path pays the extra calls, the admitted path makes one call per counter).
for i = 1, nc do
  local cost = tonumber(ARGV[4 + (i - 1) * 3 + 3])
  local name = counterKey(i)
  used[i] = redis.call('INCRBY', name, cost)
  if used[i] > tonumber(ARGV[4 + (i - 1) * 3 + 2]) then
    for k = 1, i do
      local c = tonumber(ARGV[4 + (k - 1) * 3 + 3])
      local v = redis.call('INCRBY', counterKey(k), -c)
      if v <= 0 then redis.call('DEL', counterKey(k)) end
      used[k] = v
    end
    for k = i + 1, nc do used[k] = tonumber(redis.call('GET', counterKey(k)) or '0') end
    return {i, reset, unpack(used)}
  end
  if ARGV[4 + (i - 1) * 3 + 1] ~= 'window' then redis.call('PEXPIRE', name, 600000)
  elseif used[i] == cost then redis.call('PEXPIRE', name, ${WINDOW_MS * 2}) end
end
for j = 1, nb do
  local cost = ARGV[b + (j - 1) * 3 + 2]
  local z = KEYS[nc + 2 * j]
  redis.call('ZADD', z, now, id .. ':' .. cost)
  -- Nothing else reserved: the zset was just created and needs its TTL (the hash got its own
  -- when it was seeded).
  if redis.call('HINCRBY', KEYS[nc + 2 * j - 1], 'reserved', cost) == tonumber(cost) then
    redis.call('PEXPIRE', z, ARGV[b + (j - 1) * 3 + 3])
  end
end
return {0, reset, unpack(used)}
`;

// ONE round trip settles every request that ended in the same turn of the event loop (each as
// if settled alone, in order; a Lua script runs alone on the server): TPM counters move from
// the estimate to the actual tokens, concurrency slots are released, and each budget's
// reservation becomes spend. Removing the reservation from the zset is the claim: if the sweep
// reclaimed it first, `reserved` was already given back and only the spend is added, so a late
// settle still charges exactly once. A budget hash that no longer exists (Redis lost it) is
// left alone: it is re-seeded from Postgres, which receives this spend through the batch writer.
// ARGV: nSettles, then per settle: nAdjust, nBudgets, reservation id, per adjust kind ('window',
// 'in-window' or 'gauge'), delta,
// per budget reserved ticks, actual ticks. KEYS: per settle, its adjusted counters, then per
// budget hash, zset.
const SETTLE = `
local window
local a = 2
local k = 1
for _ = 1, tonumber(ARGV[1]) do
  local na = tonumber(ARGV[a])
  local nb = tonumber(ARGV[a + 1])
  local id = ARGV[a + 2]
  a = a + 3
  for _ = 1, na do
    local name = KEYS[k]
    local windowed = ARGV[a] == 'window'
    -- 'in-window': a window key already named with its window (a lease's own window).
    local inWindow = windowed or ARGV[a] == 'in-window'
    if windowed then
      if not window then
        local t = redis.call('TIME')
        window = math.floor((tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) / ${WINDOW_MS})
      end
      name = name .. ':' .. window
    end
    local delta = tonumber(ARGV[a + 1])
    local v = redis.call('INCRBY', name, delta)
    if v <= 0 then redis.call('DEL', name)
    elseif v == delta then
      -- Created here (the request began in the previous window): admit only sets a TTL on the
      -- keys it creates.
      redis.call('PEXPIRE', name, inWindow and ${WINDOW_MS * 2} or 600000)
    end
    a = a + 2
    k = k + 1
  end
  for _ = 1, nb do
    local h = KEYS[k]
    local reserved = ARGV[a]
    local actual = ARGV[a + 1]
    -- Holding the reservation means the hash is there (they are lost together); without it,
    -- the hash must be checked so a lost one is not recreated without its durable spend.
    if redis.call('ZREM', KEYS[k + 1], id .. ':' .. reserved) == 1 then
      if redis.call('HINCRBY', h, 'reserved', -tonumber(reserved)) < 0 then redis.call('HSET', h, 'reserved', 0) end
      redis.call('HINCRBY', h, 'spent', actual)
    elseif redis.call('EXISTS', h) == 1 then
      redis.call('HINCRBY', h, 'spent', actual)
    end
    a = a + 2
    k = k + 2
  end
end
return 1
`;

// ONE round trip grants leases: blocks of a counter or a budget that this instance may then
// hand out to requests without asking Redis (leases.ts). Each grant is at most an eighth of
// what is left (so several instances never take it all) and at most `max`; below `min` nothing
// is granted and requests keep going through ADMIT one by one, which is what happens near every
// limit. A granted block is counted in Redis at once, exactly like that many admitted requests
// (a budget block is a reservation in the zset like any other), so the sum of everything held
// anywhere never passes a limit. A budget hash that does not exist grants nothing (ADMIT seeds
// it). ARGV: nEntries, then per entry kind ('window' | 'gauge' | 'budget'), limit (budget:
// ticks), max, min, TTL ms (budget zset), reservation id (budget). KEYS: per entry its key
// (window: without the window number), or per budget its hash and zset. Returns the window, the
// ms until it resets, then per entry the grant and what was used before it.
const LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = math.floor(now / ${WINDOW_MS})
local out = {window, ${WINDOW_MS} - (now % ${WINDOW_MS})}
local a = 2
local k = 1
for _ = 1, tonumber(ARGV[1]) do
  local kind = ARGV[a]
  local limit = tonumber(ARGV[a + 1])
  local max = tonumber(ARGV[a + 2])
  local min = tonumber(ARGV[a + 3])
  local grant = 0
  local used = 0
  if kind == 'budget' then
    local h = KEYS[k]
    local z = KEYS[k + 1]
    k = k + 2
    local v = redis.call('HMGET', h, 'spent', 'reserved')
    if v[1] then
      used = tonumber(v[1]) + tonumber(v[2] or '0')
      grant = math.min(max, math.floor((limit - used) / 8))
      if grant >= min then
        local g = string.format('%d', grant)
        redis.call('ZADD', z, now, ARGV[a + 5] .. ':' .. g)
        if redis.call('HINCRBY', h, 'reserved', g) == grant then redis.call('PEXPIRE', z, ARGV[a + 4]) end
      else grant = 0 end
    end
  else
    local name = KEYS[k]
    k = k + 1
    if kind == 'window' then name = name .. ':' .. window end
    used = tonumber(redis.call('GET', name) or '0')
    grant = math.min(max, math.floor((limit - used) / 8))
    if grant >= min then
      local v = redis.call('INCRBY', name, string.format('%d', grant))
      if kind ~= 'window' then redis.call('PEXPIRE', name, 600000)
      elseif v == grant then redis.call('PEXPIRE', name, ${WINDOW_MS * 2}) end
    else grant = 0 end
  end
  out[#out + 1] = grant
  out[#out + 1] = used
  a = a + 6
end
return out
`;

// Creates a budget hash from the durable spend unless another replica already did.
const SEED = `
for i = 1, #KEYS do
  if redis.call('HSETNX', KEYS[i], 'spent', ARGV[(i - 1) * 2 + 1]) == 1 then
    redis.call('HSET', KEYS[i], 'reserved', 0)
    redis.call('PEXPIRE', KEYS[i], ARGV[(i - 1) * 2 + 2])
  end
end
return 1
`;

/** A block asked for (see LEASE): of a counter, or of a budget (`key` its hash). */
export type LeaseAsk =
  | { kind: 'window'; key: string; limit: number; max: number; min: number }
  | { kind: 'gauge'; key: string; limit: number; max: number; min: number }
  | {
      kind: 'budget';
      key: string;
      limit: number;
      max: number;
      min: number;
      ttlMs: number;
      id: string;
    };

/** What LEASE granted: the server's window and the ms to its end, then per ask grant and used. */
export interface LeaseGrants {
  window: number;
  resetMs: number;
  grants: { grant: number; used: number }[];
}

/** One request's settle: counter adjustments, and its budget reservations turned into spend. */
export interface Settle {
  /**
   * 'window': the key's current window; 'in-window': a window key already named with its window
   * (a lease gives units back to the window it took them from); 'gauge': the key as it is.
   */
  adjust: readonly { kind: Counter['kind'] | 'in-window'; key: string; delta: number }[];
  budgets: readonly { key: string; reservedTicks: number; actualTicks: number }[];
  reservationId: string;
}

type Script = (...args: (string | number)[]) => Promise<unknown>;
interface ScriptedRedis {
  rampartLimitsLease: Script;
  rampartLimitsAdmit: Script;
  rampartLimitsSettle: Script;
  rampartLimitsSeed: Script;
}

/** The Redis side of limits and budgets; callers wrap it in a timeout and a circuit breaker. */
export class RedisLimits {
  readonly #r: ScriptedRedis;
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
    // EVALSHA after the first call: the script body is not resent on every request.
    redis.defineCommand('rampartLimitsAdmit', { lua: ADMIT });
    redis.defineCommand('rampartLimitsSettle', { lua: SETTLE });
    redis.defineCommand('rampartLimitsLease', { lua: LEASE });
    redis.defineCommand('rampartLimitsSeed', { lua: SEED });
    // Library boundary: defineCommand adds these methods at run time; ioredis cannot type them.
    // eslint-disable-next-line no-restricted-syntax
    this.#r = redis as unknown as ScriptedRedis;
  }

  async admit(
    counters: readonly Counter[],
    budgets: readonly BudgetHold[],
    reservationId: string,
    reclaimAgeMs: number,
  ): Promise<AdmitResult> {
    const keys = [
      ...counters.map((c) => c.key),
      ...budgets.flatMap((b) => [b.key, `${b.key}:res`]),
    ];
    const out = (await this.#r.rampartLimitsAdmit(
      keys.length,
      ...keys,
      counters.length,
      budgets.length,
      reservationId,
      reclaimAgeMs,
      ...counters.flatMap((c) => [c.kind, c.limit, c.cost]),
      ...budgets.flatMap((b) => [b.budgetTicks, b.costTicks, b.ttlMs]),
    )) as number[];
    const [code = 0, resetMs = WINDOW_MS, ...rest] = out.map(Number);
    if (code === -1) return { missing: rest.map((j) => j - 1) };
    if (code === 0) return { ok: true, used: rest, resetMs };
    if (code > counters.length)
      return { ok: false, budgetFailed: code - counters.length - 1, used: rest, resetMs };
    return { ok: false, failed: code - 1, used: rest, resetMs };
  }

  /** Settles requests in one script call (see SETTLE); settles with nothing to do are skipped. */
  async settle(settles: readonly Settle[]): Promise<void> {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    let n = 0;
    for (const { adjust, budgets, reservationId } of settles) {
      const live = adjust.filter((a) => a.delta !== 0);
      if (live.length === 0 && budgets.length === 0) continue;
      n += 1;
      args.push(live.length, budgets.length, reservationId);
      for (const a of live) {
        keys.push(a.key);
        args.push(a.kind, Math.round(a.delta));
      }
      for (const b of budgets) {
        keys.push(b.key, `${b.key}:res`);
        args.push(b.reservedTicks, b.actualTicks);
      }
    }
    if (n === 0) return;
    await this.#r.rampartLimitsSettle(keys.length, ...keys, n, ...args);
  }

  /** Asks for blocks of counters and budgets in one script call (see LEASE). */
  async lease(asks: readonly LeaseAsk[]): Promise<LeaseGrants> {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const a of asks) {
      if (a.kind === 'budget') keys.push(a.key, `${a.key}:res`);
      else keys.push(a.key);
      args.push(a.kind, a.limit, a.max, a.min);
      if (a.kind === 'budget') args.push(a.ttlMs, a.id);
      else args.push(0, '');
    }
    const out = (
      (await this.#r.rampartLimitsLease(keys.length, ...keys, asks.length, ...args)) as unknown[]
    ).map(Number);
    const grants = asks.map((_, i) => ({
      grant: out[2 + i * 2] ?? 0,
      used: out[3 + i * 2] ?? 0,
    }));
    return { window: out[0] ?? 0, resetMs: out[1] ?? WINDOW_MS, grants };
  }

  /** What each budget hash has spent (in its units), undefined when not seeded. */
  async spent(keys: readonly string[]): Promise<(number | undefined)[]> {
    const pipe = this.#redis.pipeline();
    for (const k of keys) pipe.hmget(k, 'spent');
    const out = (await pipe.exec()) ?? [];
    return keys.map((_, i) => {
      const [err, v] = out[i] ?? [null, null];
      if (err || !Array.isArray(v) || v[0] === null || v[0] === undefined) return undefined;
      return Number(v[0]);
    });
  }

  /** Renews a held gauge's safety TTL. */
  async touch(key: string, ttlMs: number): Promise<void> {
    await this.#redis.pexpire(key, ttlMs);
  }

  async seed(
    budgets: readonly { key: string; spentTicks: number; ttlMs: number }[],
  ): Promise<void> {
    await this.#r.rampartLimitsSeed(
      budgets.length,
      ...budgets.map((b) => b.key),
      ...budgets.flatMap((b) => [b.spentTicks, b.ttlMs]),
    );
  }
}
