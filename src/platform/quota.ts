import type { Principal } from './http/principal.js';
import { AppError } from './http/errors.js';

/**
 * The plan quotas every consuming path is held to (docs/billing.md, Quotas). Implemented by the
 * analytics feature; the gateway, the copilot, the knowledge hub and identity receive it as a
 * dependency, so none of them imports analytics.
 */
export type QuotaMeter =
  'requests' | 'tokens' | 'costUsd' | 'documents' | 'storageBytes' | 'seats' | 'agentRuns';

/** Amounts per meter, in each meter's unit (costUsd in ticks of 1e-10 USD). */
export type QuotaAmounts = Partial<Record<QuotaMeter, number>>;

/** A reservation made before the work; settled exactly once after it (0 when it did not happen). */
export interface QuotaReservation {
  settle(actual: QuotaAmounts): Promise<void>;
}

export interface QuotaGate {
  /**
   * Reserves `amounts` against the tenant's plan: 429 quota_exceeded when a hard quota would be
   * passed, else a reservation to settle (a no-op one when the tenant's plan has no quota here).
   * `amounts` is called only when the plan has a quota on one of the meters.
   */
  reserve(
    principal: Pick<Principal, 'tenantId'>,
    meters: readonly QuotaMeter[],
    amounts: () => QuotaAmounts,
  ): Promise<QuotaReservation>;
  /** Gives back units of a stock meter (a deleted document, its bytes). */
  release(principal: Pick<Principal, 'tenantId'>, amounts: QuotaAmounts): Promise<void>;
}

/** No plans: every reservation is admitted and settles to nothing. */
export const NO_QUOTAS: QuotaGate = {
  reserve: () => Promise.resolve({ settle: () => Promise.resolve() }),
  release: () => Promise.resolve(),
};

/** Reserves, runs the work and settles what it consumed (nothing when it throws). */
export async function withQuota<T>(
  gate: QuotaGate | undefined,
  principal: Pick<Principal, 'tenantId'>,
  meters: readonly QuotaMeter[],
  amounts: () => QuotaAmounts,
  work: () => Promise<T>,
  consumed: (result: T) => QuotaAmounts,
): Promise<T> {
  if (!gate) return work();
  const reservation = await gate.reserve(principal, meters, amounts);
  let result: T;
  try {
    result = await work();
  } catch (err) {
    await reservation.settle({});
    throw err;
  }
  await reservation.settle(consumed(result));
  return result;
}

/** 429 quota_exceeded: the meter, its quota, the period's end and Retry-After until then. */
export class QuotaExceeded extends AppError {
  constructor(meter: QuotaMeter, quota: number, periodEnd: Date, now = Date.now()) {
    const retryAfter = Math.max(1, Math.ceil((periodEnd.getTime() - now) / 1000));
    super(
      429,
      'quota_exceeded',
      `The plan's ${meter} quota of ${String(quota)} for this period is used up; it resets at ${periodEnd.toISOString()}.`,
      { meter, quota, periodEnd: periodEnd.toISOString(), retryAfter },
      {
        'retry-after': String(retryAfter),
        'x-quota-meter': meter,
        'x-quota-limit': String(quota),
        'x-quota-period-end': periodEnd.toISOString(),
      },
    );
  }
}
