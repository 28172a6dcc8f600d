import type { QuotaMeter } from '../platform/quota.js';
import { METERS, microUsd, type PlanTerms } from './plans-terms.js';
import type { Period } from './quotas-periods.js';

// Invoice arithmetic, exact: every amount is a rational number of micro-USD computed with
// BigInt from integer inputs (usage counts, ticks of 1e-10 USD, micro-USD prices, seconds), and
// each line is rounded ONCE to integer cents, half up. The subtotal is the sum of the rounded
// lines, the credits are rounded once as one line, total = max(0, subtotal - credits). So a line
// shows what it adds, and the totals add up to the cent (docs/billing.md, Rounding).

/** The part of a period a tenant spent on one plan, with what it used meanwhile. */
export interface PlanSegment {
  plan: PlanTerms;
  from: Date;
  to: Date;
  /** Flow meters over [from, to) from the ledger (costUsd in ticks of 1e-10 USD). */
  usage: Partial<Record<QuotaMeter, bigint>>;
}

export interface InvoiceInput {
  period: Period;
  segments: PlanSegment[];
  /** Stock meters as measured (documents, storageBytes, seats). */
  stock: Partial<Record<QuotaMeter, bigint>>;
  /** Credits granted for the period, micro-USD each. */
  credits: { amountMicroUsd: bigint; reason: string }[];
}

export type InvoiceLine =
  | {
      kind: 'base';
      plan: PlanRef;
      from: string;
      to: string;
      /** The share of the period on this plan, as "seconds/seconds". */
      share: string;
      amountCents: number;
    }
  | {
      kind: 'included';
      plan: PlanRef;
      meter: QuotaMeter;
      /** The quota prorated to the segment (may be fractional: a decimal string). */
      included: string;
      used: string;
      amountCents: 0;
    }
  | {
      kind: 'overage';
      plan: PlanRef;
      meter: QuotaMeter;
      quantity: string;
      unitPriceUsd: string;
      per: string;
      amountCents: number;
    }
  | { kind: 'credit'; reason: string; amountCents: number };

export interface PlanRef {
  id: string;
  name: string;
  version: number;
}

export interface InvoiceDocument {
  period: string;
  periodStart: string;
  periodEnd: string;
  currency: 'usd';
  lines: InvoiceLine[];
  subtotalCents: number;
  creditsCents: number;
  totalCents: number;
  rounding: string;
}

export const ROUNDING_RULE =
  'Each line is computed exactly from integer usage and micro-USD prices and rounded once to cents, half up; subtotal = sum of lines; total = max(0, subtotal - credits).';

/** n/d rounded half up (n, d >= 0; a negative n rounds toward zero from -0.5). */
export function roundHalfUp(n: bigint, d: bigint): bigint {
  if (n < 0n) return -roundHalfUp(-n, d);
  return (2n * n + d) / (2n * d);
}

/** micro-USD (as n/d) to cents, rounded once. 1 cent = 10,000 micro-USD. */
function cents(n: bigint, d: bigint): number {
  return Number(roundHalfUp(n, d * 10_000n));
}

/** An exact decimal of n/d with up to `digits` decimals (display only: quantities, never money). */
export function decimal(n: bigint, d: bigint, digits = 6): string {
  const scale = 10n ** BigInt(digits);
  const v = roundHalfUp(n * scale, d);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const int = abs / scale;
  const frac = (abs % scale).toString().padStart(digits, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${int.toString()}${frac ? `.${frac}` : ''}`;
}

function ref(p: PlanTerms): PlanRef {
  return { id: p.id, name: p.name, version: p.version };
}

/** Shown quantities of cost are in USD (ticks / 1e10); every other meter in its own unit. */
function unitScale(meter: QuotaMeter): bigint {
  return meter === 'costUsd' ? 10_000_000_000n : 1n;
}

/** The quota in the meter's unit as a BigInt (costUsd: ticks), or undefined. */
function quotaOf(p: PlanTerms, meter: QuotaMeter): bigint | undefined {
  const m = METERS.find((x) => x.meter === meter);
  const v = m ? p.quotas[m.quota] : undefined;
  if (v === undefined) return undefined;
  return meter === 'costUsd' ? microUsd(v) * 10_000n : BigInt(v);
}

/** The invoice of a period: base, included usage and overage per segment, credits, totals. */
export function computeInvoice(input: InvoiceInput): InvoiceDocument {
  const periodSec = BigInt((input.period.end.getTime() - input.period.start.getTime()) / 1000);
  const lines: InvoiceLine[] = [];
  for (const s of input.segments) {
    const segSec = BigInt(Math.round((s.to.getTime() - s.from.getTime()) / 1000));
    if (segSec <= 0n) continue;
    const plan = s.plan;
    lines.push({
      kind: 'base',
      plan: ref(plan),
      from: s.from.toISOString(),
      to: s.to.toISOString(),
      share: `${segSec.toString()}/${periodSec.toString()}`,
      amountCents: cents(microUsd(plan.prices.baseUsd) * segSec, periodSec),
    });
    for (const m of METERS) {
      const quota = quotaOf(plan, m.meter);
      if (quota === undefined) continue;
      // Flow: the segment's usage against the quota prorated to the segment. Stock: what exists
      // against the quota, for the segment's share of the period.
      const used = m.kind === 'flow' ? (s.usage[m.meter] ?? 0n) : (input.stock[m.meter] ?? 0n);
      const usedScaled = m.kind === 'flow' ? used * periodSec : used * segSec;
      const includedScaled = quota * segSec;
      lines.push({
        kind: 'included',
        plan: ref(plan),
        meter: m.meter,
        included: decimal(includedScaled, periodSec * unitScale(m.meter)),
        used: decimal(used, unitScale(m.meter)),
        amountCents: 0,
      });
      const price = plan.prices.overage[m.price];
      const overScaled = usedScaled - includedScaled; // units × periodSec
      if (price === undefined || overScaled <= 0n) continue;
      const unit = microUsd(price);
      lines.push({
        kind: 'overage',
        plan: ref(plan),
        meter: m.meter,
        quantity: decimal(overScaled, periodSec * unitScale(m.meter)),
        unitPriceUsd: decimal(unit, 1_000_000n),
        per: m.meter === 'costUsd' ? '1 USD' : m.per.toString(),
        amountCents: cents(overScaled * unit, periodSec * m.per),
      });
    }
  }
  const subtotal = lines.reduce((a, l) => a + l.amountCents, 0); // before credit lines
  let creditsCents = 0;
  for (const c of input.credits) {
    const amount = cents(c.amountMicroUsd, 1n);
    creditsCents += amount;
    lines.push({ kind: 'credit', reason: c.reason, amountCents: -amount });
  }
  return {
    period: input.period.id,
    periodStart: input.period.start.toISOString(),
    periodEnd: input.period.end.toISOString(),
    currency: 'usd',
    lines,
    subtotalCents: subtotal,
    creditsCents,
    totalCents: Math.max(0, subtotal - creditsCents),
    rounding: ROUNDING_RULE,
  };
}
