import { AppError } from '../../platform/http/errors.js';
import type { Limits } from '../../platform/http/limits-schema.js';

/** One budget a request is charged against: a key's or the tenant's, for one period. */
export interface BudgetScope {
  scope: 'tenant' | 'key';
  scopeId: string;
  periodStart: string; // YYYY-MM-DD (UTC)
  period: 'day' | 'month';
  budgetUsd: number;
}

/**
 * Money in Redis and in the spend batches is counted in integer ticks of 1e-10 USD, the scale of
 * budget_spend's numeric(20, 10) columns, so Redis and Postgres agree to the last digit and Lua
 * (whose numbers are doubles) adds integers exactly up to 2^53 ticks (about $900,000 per
 * budget and period; beyond that sums round at the 1e-10 USD digit, which no budget notices).
 */
export const TICKS_PER_USD = 1e10;

export function toTicks(usd: number): number {
  return Math.round(usd * TICKS_PER_USD);
}

/** An exact decimal string of a tick count (no float round trip): 40000 → "0.0000040000". */
export function ticksToDecimal(ticks: number): string {
  const n = BigInt(Math.round(ticks));
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const unit = BigInt(TICKS_PER_USD);
  const frac = (abs % unit).toString().padStart(10, '0');
  return `${neg ? '-' : ''}${(abs / unit).toString()}.${frac}`;
}

const DAY_MS = 86_400_000;
/** The current UTC day, remembered until it ends: every budgeted request asks. */
let today = { from: 0, until: 0, iso: '' };

export function periodStart(period: Limits['budgetPeriod'], now?: Date): string {
  let iso: string;
  if (now) iso = now.toISOString().slice(0, 10);
  else {
    const ms = Date.now();
    if (ms < today.from || ms >= today.until) {
      const from = ms - (ms % DAY_MS);
      today = { from, until: from + DAY_MS, iso: new Date(from).toISOString().slice(0, 10) };
    }
    iso = today.iso;
  }
  return period === 'month' ? `${iso.slice(0, 8)}01` : iso;
}

/** How long a budget's Redis keys must outlive their period's start (one period plus a day). */
export function budgetKeyTtlMs(period: BudgetScope['period']): number {
  return (period === 'month' ? 32 : 2) * 86_400_000;
}

/** The budgets that apply to a request of this key (key's first, then the tenant's). */
export function budgetScopes(
  tenantId: string,
  keyId: string | null,
  key: Limits,
  tenant: Limits,
  now?: Date,
): BudgetScope[] {
  const out: BudgetScope[] = [];
  if (keyId && key.budgetUsd !== undefined)
    out.push({
      scope: 'key',
      scopeId: keyId,
      period: key.budgetPeriod ?? 'day',
      periodStart: periodStart(key.budgetPeriod, now),
      budgetUsd: key.budgetUsd,
    });
  if (tenant.budgetUsd !== undefined)
    out.push({
      scope: 'tenant',
      scopeId: tenantId,
      period: tenant.budgetPeriod ?? 'day',
      periodStart: periodStart(tenant.budgetPeriod, now),
      budgetUsd: tenant.budgetUsd,
    });
  return out;
}

export function budgetExceeded(s: BudgetScope): AppError {
  return new AppError(
    429,
    'budget_exceeded',
    `The ${s.scope} budget of $${s.budgetUsd} per ${s.period} is exhausted.`,
  );
}
