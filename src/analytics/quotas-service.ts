import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, TenantTx } from '../platform/db/database.js';
import type { Principal } from '../platform/http/principal.js';
import {
  QuotaExceeded,
  type QuotaAmounts,
  type QuotaGate,
  type QuotaMeter,
  type QuotaReservation,
} from '../platform/quota.js';
import { recordWebhookEvent } from '../webhooks/index.js';
import type { PlanService } from './plans-service.js';
import { METERS, quotaUnits, type PlanTerms } from './plans-terms.js';
import { periodDay, periodOf, type Period } from './quotas-periods.js';
import {
  claimThreshold,
  counterExists,
  durableUsed,
  reserveCounter,
  settleCounter,
} from './quotas-store.js';

/** The gateway limiter's generic holds (Redis scripts, or in process on the embedded database). */
export interface HoldStore {
  reserveHolds(
    holds: readonly { key: string; budgetTicks: number; costTicks: number; ttlMs: number }[],
    id: string,
    durable: (missing: number[]) => Promise<number[]>,
  ): Promise<{ ok: true } | { ok: false; failed: number } | undefined>;
  settleHolds(
    holds: readonly { key: string; reservedTicks: number; actualTicks: number }[],
    id: string,
  ): Promise<void>;
  usedTicks(keys: readonly string[]): Promise<(number | undefined)[]>;
}

/** The thresholds announced once per meter and period (quota.threshold webhook). */
export const THRESHOLDS = [80, 100] as const;
/** A counter outlives its period by a day, like a monthly budget. */
const COUNTER_TTL_MS = 32 * 86_400_000;
const NOTHING: QuotaReservation = { settle: () => Promise.resolve() };

interface Held {
  meter: QuotaMeter;
  key: string;
  quota: number;
  cost: number;
}

/** What a meter shows a tenant: its quota, used this period and left. */
export interface MeterUsage {
  meter: QuotaMeter;
  quota: number | null;
  used: number;
  left: number | null;
  unit: string;
}

function display(meter: QuotaMeter, units: number): number {
  // Cost is held in ticks of 1e-10 USD; shown in USD.
  return meter === 'costUsd' ? units / 1e10 : units;
}

/**
 * The plans' quotas on every consuming path: reserved before the work, settled after, in the
 * gateway limiter's store (Redis across replicas, in process on the embedded database) or, on
 * PostgreSQL without Redis, in quota_counters under the row lock. A hard plan refuses what would
 * pass a quota (429 quota_exceeded); a soft plan counts without refusing and the invoice bills
 * the overage. Crossing 80 % and 100 % of a quota is announced once per period.
 */
export class QuotaService implements QuotaGate {
  /** Thresholds this replica already saw recorded: skips the claim's round trip next time. */
  readonly #announced = new Set<string>();

  constructor(
    private readonly deps: { db: Database; holds: HoldStore; plans: PlanService; logger: Logger },
  ) {}

  async reserve(
    principal: Pick<Principal, 'tenantId'>,
    meters: readonly QuotaMeter[],
    amounts: () => QuotaAmounts,
  ): Promise<QuotaReservation> {
    const tenantId = principal.tenantId;
    const current = await this.deps.plans.current(tenantId);
    if (!current) return NOTHING;
    const plan = current.plan;
    const limited = meters.flatMap((meter) => {
      const quota = quotaUnits(plan.quotas, meter);
      return quota === undefined ? [] : [{ meter, quota }];
    });
    if (limited.length === 0) return NOTHING;
    const ask = amounts();
    const period = periodOf(new Date());
    const day = periodDay(period);
    const held: Held[] = limited.map((l) => ({
      ...l,
      // The {tenant} hash tag keeps a tenant's keys in one slot (Redis Cluster).
      key: `qt:{${tenantId}}:${l.meter}:${day}`,
      cost: Math.max(0, Math.round(ask[l.meter] ?? 0)),
    }));
    const id = randomUUID();
    // Soft: counted like hard, never refused.
    const limit = (h: Held) => (plan.hardLimit ? h.quota : Number.MAX_SAFE_INTEGER);
    const durable = async (missing: number[]) => {
      const ms = missing.map((i) => held[i]?.meter).filter((m): m is QuotaMeter => !!m);
      const used = await this.deps.db.withTenant({ tenantId, groups: [] }, (tx) =>
        durableUsed(tx, ms, period.start, period.end),
      );
      return ms.map((m) => Number(used.get(m) ?? 0n));
    };
    const r = await this.deps.holds.reserveHolds(
      held.map((h) => ({
        key: h.key,
        budgetTicks: limit(h),
        costTicks: h.cost,
        ttlMs: COUNTER_TTL_MS,
      })),
      id,
      durable,
    );
    if (r === undefined) return this.#reserveInPostgres(tenantId, held, period, limit);
    if (!r.ok) {
      const failed = held[r.failed] ?? held[0];
      if (failed)
        throw new QuotaExceeded(failed.meter, display(failed.meter, failed.quota), period.end);
    }
    return this.#reservation(
      held,
      (actual) =>
        this.deps.holds
          .settleHolds(
            held.map((h) => ({
              key: h.key,
              reservedTicks: h.cost,
              actualTicks: Math.round(actual[h.meter] ?? 0),
            })),
            id,
          )
          .then(() => this.deps.holds.usedTicks(held.map((h) => h.key))),
      tenantId,
      period,
    );
  }

  async #reserveInPostgres(
    tenantId: string,
    held: Held[],
    period: Period,
    limit: (h: Held) => number,
  ): Promise<QuotaReservation> {
    const day = periodDay(period);
    await this.deps.db.withTenant({ tenantId, groups: [] }, async (tx) => {
      for (const h of held) {
        const seed = (await counterExists(tx, h.meter, day))
          ? 0n
          : ((await durableUsed(tx, [h.meter], period.start, period.end)).get(h.meter) ?? 0n);
        const ok = await reserveCounter(tx, h.meter, day, seed, h.cost, limit(h));
        // Throwing rolls back the meters already reserved in this transaction.
        if (ok === undefined)
          throw new QuotaExceeded(h.meter, display(h.meter, h.quota), period.end);
      }
    });
    return this.#reservation(
      held,
      (actual) =>
        this.deps.db.withTenant({ tenantId, groups: [] }, async (tx) => {
          const out: (number | undefined)[] = [];
          for (const h of held) {
            const used = await settleCounter(
              tx,
              h.meter,
              day,
              h.cost,
              Math.round(actual[h.meter] ?? 0),
            );
            out.push(used === undefined ? undefined : Number(used));
          }
          return out;
        }),
      tenantId,
      period,
    );
  }

  /** Settles once, then announces the thresholds the settled amounts crossed. */
  #reservation(
    held: Held[],
    settle: (actual: QuotaAmounts) => Promise<(number | undefined)[]>,
    tenantId: string,
    period: Period,
  ): QuotaReservation {
    let done = false;
    return {
      settle: async (actual) => {
        if (done) return;
        done = true;
        try {
          const used = await settle(actual);
          await this.#announce(tenantId, period, held, used);
        } catch (err) {
          // The reservation comes back with the reclaim sweep; the quota errs on the safe side.
          this.deps.logger.error(
            { err: { message: (err as Error).message } },
            'quota settle failed',
          );
        }
      },
    };
  }

  async #announce(
    tenantId: string,
    period: Period,
    held: Held[],
    used: (number | undefined)[],
  ): Promise<void> {
    const day = periodDay(period);
    const crossed: { h: Held; percent: number; used: number }[] = [];
    held.forEach((h, i) => {
      const u = used[i];
      if (u === undefined || h.quota <= 0) return;
      for (const percent of THRESHOLDS) {
        const key = `${tenantId}:${h.meter}:${day}:${String(percent)}`;
        if (u * 100 >= h.quota * percent && !this.#announced.has(key))
          crossed.push({ h, percent, used: u });
      }
    });
    if (crossed.length === 0) return;
    await this.deps.db.withTenant({ tenantId, groups: [] }, async (tx) => {
      for (const c of crossed) await this.#claim(tx, c.h, day, c.percent, c.used, period);
    });
    for (const c of crossed)
      this.#announced.add(`${tenantId}:${c.h.meter}:${day}:${String(c.percent)}`);
  }

  /** The threshold row and its webhook deliveries commit together, exactly once per period. */
  async #claim(
    tx: TenantTx,
    h: Held,
    day: string,
    percent: number,
    used: number,
    period: Period,
  ): Promise<void> {
    if (
      !(await claimThreshold(tx, { meter: h.meter, periodDay: day, percent, used, quota: h.quota }))
    )
      return;
    await recordWebhookEvent(tx, 'quota.threshold', {
      meter: h.meter,
      percent,
      used: display(h.meter, used),
      quota: display(h.meter, h.quota),
      period: period.id,
      periodEnd: period.end.toISOString(),
    });
  }

  async release(principal: Pick<Principal, 'tenantId'>, amounts: QuotaAmounts): Promise<void> {
    const tenantId = principal.tenantId;
    const current = await this.deps.plans.current(tenantId);
    if (!current) return;
    const period = periodOf(new Date());
    const day = periodDay(period);
    const entries = METERS.flatMap(({ meter }): [QuotaMeter, number][] => {
      const n = amounts[meter];
      return n !== undefined && n > 0 && quotaUnits(current.plan.quotas, meter) !== undefined
        ? [[meter, n]]
        : [];
    });
    if (entries.length === 0) return;
    const holds = entries.map(([meter, n]) => ({
      key: `qt:{${tenantId}}:${meter}:${day}`,
      reservedTicks: 0,
      actualTicks: -Math.round(n),
    }));
    // Whichever store holds the counter takes it: the limiter's, or (PostgreSQL without
    // Redis) quota_counters; the other has nothing to update.
    await this.deps.holds.settleHolds(holds, randomUUID());
    await this.deps.db.withTenant({ tenantId, groups: [] }, async (tx) => {
      for (const [meter, n] of entries) await settleCounter(tx, meter, day, 0, -Math.round(n));
    });
  }

  /** The tenant's plan, and per meter its quota, what it used this period and what is left. */
  async usage(principal: Pick<Principal, 'tenantId'>): Promise<{
    plan: PlanTerms | null;
    period: { id: string; start: string; end: string };
    meters: MeterUsage[];
  }> {
    const current = await this.deps.plans.current(principal.tenantId);
    const period = periodOf(new Date());
    const used = await this.deps.db.withTenant({ tenantId: principal.tenantId, groups: [] }, (tx) =>
      durableUsed(
        tx,
        METERS.map((m) => m.meter),
        period.start,
        period.end,
      ),
    );
    const meters = METERS.map(({ meter }) => {
      const quota = current ? quotaUnits(current.plan.quotas, meter) : undefined;
      const u = Number(used.get(meter) ?? 0n);
      return {
        meter,
        quota: quota === undefined ? null : display(meter, quota),
        used: display(meter, u),
        left: quota === undefined ? null : display(meter, Math.max(0, quota - u)),
        unit: meter === 'costUsd' ? 'usd' : meter === 'storageBytes' ? 'bytes' : meter,
      };
    });
    return {
      plan: current?.plan ?? null,
      period: { id: period.id, start: period.start.toISOString(), end: period.end.toISOString() },
      meters,
    };
  }
}
