import { z } from 'zod';
import type { QuotaMeter } from '../platform/quota.js';

// What a plan says: its quotas per period and its prices. Money in the API is USD with at most
// six decimals (micro-USD), so converting it to integer micro-USD is exact; quotas are integers
// in their meter's unit (costUsdPerMonth: USD, six decimals at most).

const Usd = z
  .number()
  .nonnegative()
  .max(1e9)
  .refine(
    (n) => Number.isInteger(Math.round(n * 1e6)) && Math.abs(n * 1e6 - Math.round(n * 1e6)) < 1e-6,
    {
      message: 'at most six decimals',
    },
  );
const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const PlanQuotas = z
  .object({
    requestsPerMonth: Count.optional(),
    tokensPerMonth: Count.optional(),
    costUsdPerMonth: Usd.optional(),
    documents: Count.optional(),
    storageBytes: Count.optional(),
    seats: Count.optional(),
    agentRunsPerMonth: Count.optional(),
  })
  .strict();
export type PlanQuotas = z.infer<typeof PlanQuotas>;

export const PlanOverage = z
  .object({
    perThousandRequests: Usd.optional(),
    perMillionTokens: Usd.optional(),
    /** Charged per USD of model cost beyond costUsdPerMonth. */
    perUsdCost: Usd.optional(),
    perAgentRun: Usd.optional(),
    perDocument: Usd.optional(),
    /** Per GB (1e9 bytes) beyond storageBytes, for the whole period. */
    perGbStorage: Usd.optional(),
    perSeat: Usd.optional(),
  })
  .strict();
export type PlanOverage = z.infer<typeof PlanOverage>;

export const PlanPrices = z.object({ baseUsd: Usd, overage: PlanOverage.default({}) }).strict();
export type PlanPrices = z.infer<typeof PlanPrices>;

export interface PlanTerms {
  id: string;
  name: string;
  version: number;
  quotas: PlanQuotas;
  prices: PlanPrices;
  hardLimit: boolean;
  createdAt: string;
}

/** Exact integer micro-USD of an API amount (validated to six decimals). */
export function microUsd(usd: number): bigint {
  return BigInt(Math.round(usd * 1e6));
}

/** Each quota meter: its plan field, its overage price and its unit price divisor. */
export const METERS: readonly {
  meter: QuotaMeter;
  quota: keyof PlanQuotas;
  price: keyof PlanOverage;
  /** Units the price is for (1000 requests, 1e6 tokens, 1e10 ticks = 1 USD, 1e9 bytes). */
  per: bigint;
  /** Flow meters count what happened in the period; stock meters what exists. */
  kind: 'flow' | 'stock';
}[] = [
  {
    meter: 'requests',
    quota: 'requestsPerMonth',
    price: 'perThousandRequests',
    per: 1000n,
    kind: 'flow',
  },
  {
    meter: 'tokens',
    quota: 'tokensPerMonth',
    price: 'perMillionTokens',
    per: 1_000_000n,
    kind: 'flow',
  },
  {
    meter: 'costUsd',
    quota: 'costUsdPerMonth',
    price: 'perUsdCost',
    per: 10_000_000_000n,
    kind: 'flow',
  },
  { meter: 'agentRuns', quota: 'agentRunsPerMonth', price: 'perAgentRun', per: 1n, kind: 'flow' },
  { meter: 'documents', quota: 'documents', price: 'perDocument', per: 1n, kind: 'stock' },
  {
    meter: 'storageBytes',
    quota: 'storageBytes',
    price: 'perGbStorage',
    per: 1_000_000_000n,
    kind: 'stock',
  },
  { meter: 'seats', quota: 'seats', price: 'perSeat', per: 1n, kind: 'stock' },
];

/** A plan's quota for a meter in the meter's unit (costUsd: ticks of 1e-10 USD), or undefined. */
export function quotaUnits(quotas: PlanQuotas, meter: QuotaMeter): number | undefined {
  const m = METERS.find((x) => x.meter === meter);
  const v = m ? quotas[m.quota] : undefined;
  if (v === undefined) return undefined;
  return meter === 'costUsd' ? Math.round(v * 1e6) * 10_000 : v;
}
