import { describe, expect, it } from 'vitest';
import { computeInvoice, decimal, roundHalfUp, type PlanSegment } from './invoice-math.js';
import type { PlanTerms } from './plans-terms.js';
import { parsePeriod } from './quotas-periods.js';

function plan(p: Partial<PlanTerms> & Pick<PlanTerms, 'prices'>): PlanTerms {
  return {
    id: 'p',
    name: 'plan',
    version: 1,
    quotas: {},
    hardLimit: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...p,
  };
}

const NOV = parsePeriod('2026-11'); // 30 days
const FEB = parsePeriod('2027-02'); // 28 days

function segment(
  p: PlanTerms,
  from: string,
  to: string,
  usage: PlanSegment['usage'] = {},
): PlanSegment {
  return { plan: p, from: new Date(from), to: new Date(to), usage };
}

describe('invoice arithmetic (integer cents, one rounding per line)', () => {
  it('rounds half up exactly once', () => {
    expect(roundHalfUp(5n, 10n)).toBe(1n); // 0.5 → 1
    expect(roundHalfUp(4n, 10n)).toBe(0n);
    expect(roundHalfUp(15n, 10n)).toBe(2n);
    expect(roundHalfUp(-15n, 10n)).toBe(-2n);
    expect(decimal(1n, 3n)).toBe('0.333333');
    expect(decimal(3n, 2n)).toBe('1.5');
  });

  it('a whole period on one plan: base, included usage and overage per meter', () => {
    const pro = plan({
      quotas: { requestsPerMonth: 1000, tokensPerMonth: 1_000_000, costUsdPerMonth: 5 },
      prices: {
        baseUsd: 49,
        overage: { perThousandRequests: 2.5, perMillionTokens: 0.4, perUsdCost: 1.2 },
      },
    });
    const inv = computeInvoice({
      period: NOV,
      segments: [
        segment(pro, '2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z', {
          requests: 1_234n, // 234 over → 234 × $2.5/1000 = $0.585 → 59 ¢ (half up)
          tokens: 3_500_001n, // 2,500,001 over × $0.4/1e6 = $1.0000004 → 100 ¢
          costUsd: 70_000_000_000n, // $7 (ticks) → $2 over × 1.2 = $2.40 → 240 ¢
        }),
      ],
      stock: {},
      credits: [],
    });
    const amounts = inv.lines.map((l) => [l.kind, 'meter' in l ? l.meter : '', l.amountCents]);
    expect(amounts).toEqual([
      ['base', '', 4900],
      ['included', 'requests', 0],
      ['overage', 'requests', 59],
      ['included', 'tokens', 0],
      ['overage', 'tokens', 100],
      ['included', 'costUsd', 0],
      ['overage', 'costUsd', 240],
    ]);
    expect(inv.subtotalCents).toBe(4900 + 59 + 100 + 240);
    expect(inv.totalCents).toBe(inv.subtotalCents);
    const over = inv.lines.find((l) => l.kind === 'overage' && l.meter === 'costUsd');
    expect(over && 'quantity' in over ? over.quantity : '').toBe('2');
  });

  it('a plan change mid-period prorates the base and the included quota by the second', () => {
    const basic = plan({
      id: 'basic',
      quotas: { requestsPerMonth: 300 },
      prices: { baseUsd: 30, overage: { perThousandRequests: 1000 } }, // $1 a request
    });
    const pro = plan({
      id: 'pro',
      quotas: { requestsPerMonth: 3000 },
      prices: { baseUsd: 90, overage: { perThousandRequests: 1000 } },
    });
    const inv = computeInvoice({
      period: NOV,
      segments: [
        // 10 of 30 days on basic: $10 base, 100 requests included, 130 used → 30 over = $30.
        segment(basic, '2026-11-01T00:00:00Z', '2026-11-11T00:00:00Z', { requests: 130n }),
        // 20 of 30 days on pro: $60 base, 2000 included, 500 used → no overage.
        segment(pro, '2026-11-11T00:00:00Z', '2026-12-01T00:00:00Z', { requests: 500n }),
      ],
      stock: {},
      credits: [{ amountMicroUsd: 12_345_678n, reason: 'outage' }], // $12.345678 → 1235 ¢
    });
    const base = inv.lines.filter((l) => l.kind === 'base').map((l) => l.amountCents);
    expect(base).toEqual([1000, 6000]);
    const over = inv.lines.filter((l) => l.kind === 'overage');
    expect(over.map((l) => [l.amountCents, 'quantity' in l ? l.quantity : ''])).toEqual([
      [3000, '30'],
    ]);
    expect(inv.subtotalCents).toBe(10_000);
    expect(inv.creditsCents).toBe(1235);
    expect(inv.totalCents).toBe(10_000 - 1235);
    expect(inv.lines.at(-1)).toEqual({ kind: 'credit', reason: 'outage', amountCents: -1235 });
  });

  it('prorates an uneven share and rounds it once (February, 9.5 days of 28)', () => {
    const p = plan({ prices: { baseUsd: 10, overage: {} } });
    const inv = computeInvoice({
      period: FEB,
      segments: [segment(p, '2027-02-18T12:00:00Z', '2027-03-01T00:00:00Z')],
      stock: {},
      credits: [],
    });
    // $10 × 10.5/28 = $3.75 exactly → 375 ¢; share in seconds.
    expect(inv.lines[0]).toMatchObject({ kind: 'base', amountCents: 375, share: '907200/2419200' });
    const odd = computeInvoice({
      period: FEB,
      segments: [segment(p, '2027-02-01T00:00:00Z', '2027-02-02T00:00:00Z')],
      stock: {},
      credits: [],
    });
    // $10 / 28 = $0.357142… → 36 ¢.
    expect(odd.totalCents).toBe(36);
  });

  it('stock meters bill what exists beyond the quota; credits never make a total negative', () => {
    const p = plan({
      quotas: { seats: 5, storageBytes: 1_000_000_000 },
      prices: { baseUsd: 1, overage: { perSeat: 8, perGbStorage: 0.25 } },
    });
    const inv = computeInvoice({
      period: NOV,
      segments: [segment(p, '2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z')],
      stock: { seats: 7n, storageBytes: 3_500_000_000n },
      credits: [{ amountMicroUsd: 100_000_000n, reason: 'goodwill' }],
    });
    const over = inv.lines.filter((l) => l.kind === 'overage').map((l) => l.amountCents);
    expect(over).toEqual([63, 1600]); // 2.5 GB × $0.25 = 62.5 ¢ → 63; 2 seats × $8
    expect(inv.subtotalCents).toBe(100 + 63 + 1600);
    expect(inv.totalCents).toBe(0);
  });
});
