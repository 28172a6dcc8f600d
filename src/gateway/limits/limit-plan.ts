import type { Counter } from './counters.js';
import { budgetKeyTtlMs, type BudgetScope } from './budgets.js';
import type { LocalHold } from './local-budgets.js';
import type { Limits } from '../../platform/http/limits-schema.js';
import { at } from '../../platform/checked.js';

// What one request is checked against, derived from its key and tenant limits: the counters
// (the same keys in Redis and in process) and the budget holds, and the x-ratelimit-* headers
// that report them.
export interface LimitSubject {
  tenantId: string;
  keyId: string | null;
  keyLimits: Limits;
  tenantLimits: Limits;
}

/**
 * Budgets to reserve with the counters (in Redis, or in process on the embedded database), and
 * how to seed a budget the store does not hold.
 */
export interface BudgetRequest {
  scopes: BudgetScope[];
  costTicks: number;
  reservationId: string;
  /** The durable spent ticks of each scope (Postgres), for budgets the store does not hold. */
  durableSpent(scopes: BudgetScope[]): Promise<number[]>;
}

export type Metric = 'requests' | 'tokens' | 'concurrency';
export type MetricCounter = Counter & { metric: Metric };

function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

export function budgetKey(tenantId: string, s: BudgetScope): string {
  // The {tenant} hash tag keeps one request's keys in one slot (Redis Cluster).
  return `bg:{${tenantId}}:${s.scope}:${s.scopeId}:${s.periodStart}`;
}

export function countersOf(s: LimitSubject, estimatedTokens: number): MetricCounter[] {
  const counters: MetricCounter[] = [];
  const add = (scope: string, l: Limits) => {
    if (l.rpm)
      counters.push({
        kind: 'window',
        key: `${scope}:rpm`,
        limit: l.rpm,
        cost: 1,
        metric: 'requests',
      });
    if (l.tpm)
      counters.push({
        kind: 'window',
        key: `${scope}:tpm`,
        limit: l.tpm,
        cost: estimatedTokens,
        metric: 'tokens',
      });
    if (l.concurrency)
      counters.push({
        kind: 'gauge',
        key: `${scope}:conc`,
        limit: l.concurrency,
        cost: 1,
        metric: 'concurrency',
      });
  };
  if (s.keyId) add(`rl:{${s.tenantId}}:k:${s.keyId}`, s.keyLimits);
  add(`rl:{${s.tenantId}}:t`, s.tenantLimits);
  return counters;
}

/**
 * What ending a request gives back to its counters: each concurrency slot, and the TPM estimate
 * moved to the actual tokens (kept as estimated when the actual count is unknown).
 */
export function releaseOf(
  counters: readonly MetricCounter[],
  estimatedTokens: number,
  actualTokens: number | undefined,
): { kind: Counter['kind']; key: string; delta: number }[] {
  return counters
    .filter((c) => c.kind === 'gauge' || (c.metric === 'tokens' && actualTokens !== undefined))
    .map((c) => ({
      kind: c.kind,
      key: c.key,
      delta: c.kind === 'gauge' ? -1 : (actualTokens ?? estimatedTokens) - estimatedTokens,
    }));
}

const HEADER_NAMES = (['requests', 'tokens'] as const).map((metric) => ({
  metric,
  limit: `x-ratelimit-limit-${metric}`,
  remaining: `x-ratelimit-remaining-${metric}`,
  reset: `x-ratelimit-reset-${metric}`,
}));

/** x-ratelimit-* for the tightest counter of each kind: the one the client should pace by. */
export function rateLimitHeaders(
  counters: MetricCounter[],
  r: { used: number[]; resetMs: number },
) {
  const headers: Record<string, string> = {};
  // Runs for every limited request: plain loops, header names built once.
  for (const names of HEADER_NAMES) {
    let limit = -1;
    let remaining = 0;
    for (let i = 0; i < counters.length; i++) {
      const c = at(counters, i);
      if (c.metric !== names.metric) continue;
      const left = Math.max(0, c.limit - (r.used[i] ?? 0));
      if (limit < 0 || left < remaining) {
        limit = c.limit;
        remaining = left;
      }
    }
    if (limit >= 0) {
      headers[names.limit] = String(limit);
      headers[names.remaining] = String(remaining);
      headers[names.reset] = seconds(r.resetMs);
    }
  }
  return headers;
}
export function holdsOf(tenantId: string, budget: BudgetRequest | undefined): LocalHold[] {
  return (budget?.scopes ?? []).map((b) => ({
    key: budgetKey(tenantId, b),
    budgetTicks: Math.floor(b.budgetUsd * 1e10),
    costTicks: budget?.costTicks ?? 0,
    ttlMs: budgetKeyTtlMs(b.period),
  }));
}
