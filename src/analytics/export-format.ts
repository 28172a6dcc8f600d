import { createHash } from 'node:crypto';
import type { PeriodLine } from './export-store.js';
import { addDecimals, usdToMicros } from './rollups-money.js';

/** A billing period: a calendar month in UTC. */
export interface Period {
  /** YYYY-MM */
  name: string;
  /** First day, YYYY-MM-DD (inclusive). */
  from: string;
  /** First day of the next month, YYYY-MM-DD (exclusive). */
  to: string;
  /** The period's last second (Unix seconds): the timestamp of its meter events. */
  lastSecond: number;
}

/** The period of `YYYY-MM`, or undefined when it is not one. */
export function parsePeriod(name: string): Period | undefined {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(name);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const start = Date.UTC(year, month - 1, 1);
  const end = Date.UTC(year, month, 1);
  const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
  return { name, from: day(start), to: day(end), lastSecond: end / 1000 - 1 };
}

/** The meters a tenant's period is exported as; each is one Stripe meter (its event_name). */
export const STRIPE_METERS = [
  'rampart_requests',
  'rampart_prompt_tokens',
  'rampart_completion_tokens',
  'rampart_cost_micro_usd',
] as const;

/** One event in the shape of Stripe's `POST /v1/billing/meter_events` (payload values are strings). */
export interface StripeMeterEvent {
  event_name: (typeof STRIPE_METERS)[number];
  identifier: string;
  timestamp: number;
  payload: { stripe_customer_id: string; value: string };
}

const sum = (xs: readonly string[]): bigint => xs.reduce((s, x) => s + BigInt(x), 0n);

/**
 * A tenant's period as Stripe meter events: one per meter, whatever the traffic (zero included),
 * each named by an identifier built only from the tenant, the period and the meter, so every
 * export of the same period sends the same identifiers and Stripe drops a repeat. The cost is the
 * period's exact total rounded once to micro-USD (half away from zero).
 */
export function stripeEvents(
  tenantId: string,
  customerId: string,
  period: Period,
  lines: readonly PeriodLine[],
): StripeMeterEvent[] {
  const values: Record<(typeof STRIPE_METERS)[number], bigint> = {
    rampart_requests: sum(lines.map((l) => l.requests)),
    rampart_prompt_tokens: sum(lines.map((l) => l.promptTokens)),
    rampart_completion_tokens: sum(lines.map((l) => l.completionTokens)),
    rampart_cost_micro_usd: usdToMicros(addDecimals(lines.map((l) => l.costUsd))),
  };
  return STRIPE_METERS.map((meter) => ({
    event_name: meter,
    // At most 8 + 36 + 1 + 7 + 1 + 25 = 78 characters (Stripe allows 100).
    identifier: `rampart-${tenantId}-${period.name}-${meter}`,
    timestamp: period.lastSecond,
    payload: { stripe_customer_id: customerId, value: values[meter].toString() },
  }));
}

export const CSV_HEADER = [
  'identifier',
  'tenant_id',
  'tenant_slug',
  'period',
  'feature',
  'alias',
  'provider',
  'target_model',
  'requests',
  'errors',
  'prompt_tokens',
  'completion_tokens',
  'cached_tokens',
  'cost_usd',
  'cost_micro_usd',
] as const;

/** RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled. */
function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/**
 * A tenant's period as CSV rows (no header), one per feature and model. Each row's identifier
 * is a digest of the tenant, period and group, the same on every export.
 */
export function csvRows(
  tenant: { id: string; slug: string },
  period: Period,
  lines: readonly PeriodLine[],
): string[] {
  return lines.map((l) => {
    const group = JSON.stringify([
      tenant.id,
      period.name,
      l.feature,
      l.alias,
      l.provider,
      l.targetModel,
    ]);
    const identifier = `rampart-${createHash('sha256').update(group).digest('hex').slice(0, 32)}`;
    return [
      identifier,
      tenant.id,
      tenant.slug,
      period.name,
      l.feature,
      l.alias,
      l.provider ?? '',
      l.targetModel ?? '',
      l.requests,
      l.errors,
      l.promptTokens,
      l.completionTokens,
      l.cachedTokens,
      l.costUsd,
      usdToMicros(l.costUsd).toString(),
    ]
      .map(csvField)
      .join(',');
  });
}

/** sha256 of a tenant's exported part: two exports with the same digest wrote the same thing. */
export function digestOf(lines: readonly string[]): string {
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
