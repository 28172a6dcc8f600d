import type { paths } from '../api/schema';

/** The `limits` object of PUT /v1/limits and of a key (POST/PATCH /v1/api-keys): absent = unlimited. */
export type Limits = paths['/v1/limits']['put']['requestBody']['content']['application/json'];

/** What the limit fields hold while edited: a NumberInput's value is a number or a string. */
export interface LimitsDraft {
  rpm: number | string;
  tpm: number | string;
  concurrency: number | string;
  budget: number | string;
  period: 'day' | 'month';
}

export const NO_LIMITS: LimitsDraft = {
  rpm: '',
  tpm: '',
  concurrency: '',
  budget: '',
  period: 'day',
};

const positive = (v: number | string): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;

/** The fields for stored limits. */
export function draftOf(l: Limits): LimitsDraft {
  return {
    rpm: l.rpm ?? '',
    tpm: l.tpm ?? '',
    concurrency: l.concurrency ?? '',
    budget: l.budgetUsd ?? '',
    period: l.budgetPeriod ?? 'day',
  };
}

/** The limits the fields ask for: an empty or non-positive field is left out (unlimited). */
export function limitsOf(d: LimitsDraft): Limits {
  const out: Limits = {};
  const rpm = positive(d.rpm);
  const tpm = positive(d.tpm);
  const concurrency = positive(d.concurrency);
  const budget = positive(d.budget);
  if (rpm !== undefined) out.rpm = Math.round(rpm);
  if (tpm !== undefined) out.tpm = Math.round(tpm);
  if (concurrency !== undefined) out.concurrency = Math.round(concurrency);
  if (budget !== undefined) {
    out.budgetUsd = budget;
    out.budgetPeriod = d.period;
  }
  return out;
}

/** One line for a table cell: "60 rpm · 10000 tpm · 4 at once · $5/day", or "none". */
export function describeLimits(l: Limits): string {
  const parts: string[] = [];
  if (l.rpm !== undefined) parts.push(`${l.rpm} rpm`);
  if (l.tpm !== undefined) parts.push(`${l.tpm} tpm`);
  if (l.concurrency !== undefined) parts.push(`${l.concurrency} at once`);
  if (l.budgetUsd !== undefined) parts.push(`$${l.budgetUsd}/${l.budgetPeriod ?? 'day'}`);
  return parts.join(' · ') || 'none';
}
