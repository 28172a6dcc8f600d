import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { auditSuccess } from '../../audit/service.js';
import type { Database } from '../../platform/db/database.js';
import { Forbidden } from '../../platform/http/errors.js';
import type { Principal, RequestMeta } from '../../platform/http/principal.js';
import { costUsd, type ModelPrice } from '../config/prices.js';
import type { Usage } from '../providers/types.js';
import type { TenantConfigCache } from '../config/tenant-config.js';
import { budgetExceeded, budgetScopes, ticksToDecimal, toTicks } from './budgets.js';
import type { BudgetRequest, Lease, Limiter } from './limiter.js';
import type { Limits } from '../../platform/http/limits-schema.js';
import type { SpendWriter } from './spend-writer.js';
import { PromptTokenCounter } from './prompt-tokens.js';
import type { QuotaGate, QuotaReservation } from '../../platform/quota.js';
import { announceBudgetThresholds } from './thresholds.js';
import {
  durableSpentTicks,
  getTenantLimits,
  putTenantLimits,
  reserveBudgets,
  settleBudgets,
} from './store.js';

/** What the invoke path holds for one request; `end` settles and releases exactly once. */
export interface Admission {
  /** x-ratelimit-* of the counters this request was admitted by (empty when none applies). */
  headers: Record<string, string>;
  /**
   * targetModel undefined: no upstream call was made (release all); usage undefined: charge the
   * reservation. Only the first call counts. Resolves at once: settling runs in the background
   * (LimitsService.flush() waits for it).
   */
  end(usage: Usage | undefined, targetModel: string | undefined): Promise<void>;
}

/** An upstream target the request may end up on, with its price (tenant override or built-in). */
export interface PricedTarget {
  model: string;
  price?: ModelPrice | undefined;
}

export interface LimitsDeps {
  db: Database;
  limiter: Limiter;
  config: TenantConfigCache;
  spend: SpendWriter;
  logger: Logger;
  maxOutputEstimate: number;
  reservationTtlMs: number;
  /** Gives back what this service holds on shared state (the in-process budgets), once. */
  release?: (() => void) | undefined;
}

/**
 * Model allow-lists, rate limits and budgets around one gateway call, read from the tenant's
 * cached gateway config. With Redis, counters and budget reservations are one script round trip
 * to admit and one (batched) to settle, and settled spend reaches Postgres (the durable record)
 * in batches; a budgeted request that Redis cannot answer gets 503. On the embedded database
 * without Redis the same happens in process (no I/O per request); on PostgreSQL without Redis
 * budgets are reserved in Postgres with a conditional UPDATE under the row lock. Each budget
 * lives in exactly one of these stores, so the settled spend never passes the budget however
 * many replicas share them (see docs/decisions/006).
 */
export class LimitsService {
  readonly #pending = new Set<Promise<void>>();
  readonly #promptTokens = new PromptTokenCounter();
  #quotas: QuotaGate | undefined;

  constructor(private readonly deps: LimitsDeps) {}

  /** The limiter itself: plans' quotas reserve and settle through it (one limiter, one store). */
  get limiter(): Limiter {
    return this.deps.limiter;
  }

  /**
   * Holds every model call to the tenant's plan quotas (requests, tokens, cost). Bound by the
   * composition root once the analytics feature exists (it is built on this limiter).
   */
  useQuotas(gate: QuotaGate): void {
    this.#quotas = gate;
  }

  /** Where budget reservations are held: 'redis', 'in-process' (embedded database) or 'postgres'. */
  get budgetStore(): 'redis' | 'in-process' | 'postgres' {
    return this.deps.limiter.budgetStore;
  }

  getTenant(principal: Principal): Promise<Limits> {
    return this.deps.db.withTenant(principal, (tx) => getTenantLimits(tx));
  }

  async putTenant(principal: Principal, limits: Limits, meta: RequestMeta): Promise<Limits> {
    await this.deps.db.withTenant(principal, async (tx) => {
      await putTenantLimits(tx, limits);
      await auditSuccess(
        tx,
        principal,
        meta,
        'limits.updated',
        { type: 'tenant', id: principal.tenantId },
        { limits },
      );
    });
    this.deps.config.evict(principal.tenantId);
    return limits;
  }

  /** The aliases this key may call (null: all). */
  async allowedModels(principal: Principal): Promise<string[] | null> {
    return (await this.deps.config.get(principal)).keyLimits(principal.keyId).models;
  }

  /**
   * Admits one request: 403 model_not_allowed, 429 rate_limited, 429 budget_exceeded, or an
   * Admission the caller must end() once the request is over (success, failure or disconnect).
   */
  async admit(
    principal: Principal,
    req: { model: string; input: unknown; maxTokens: number | undefined },
    targets: readonly PricedTarget[],
  ): Promise<Admission> {
    const { db, limiter } = this.deps;
    const config = await this.deps.config.get(principal);
    const key = config.keyLimits(principal.keyId);
    if (key.models && !key.models.includes(req.model))
      throw new Forbidden(
        `This API key may not use the model '${req.model}'.`,
        'model_not_allowed',
      );
    const tenant = config.tenantLimits;
    const scopes = budgetScopes(principal.tenantId, principal.keyId, key.limits, tenant);
    const tpm = key.limits.tpm !== undefined || tenant.tpm !== undefined;
    const priced = scopes.length > 0 && targets.some((t) => t.price);
    // Tokenizing a large prompt is not free: only when a TPM limit or a priced budget needs it.
    const promptTokens =
      tpm || priced ? this.#promptTokens.count(principal.tenantId, req.input) : 0;
    const maxOut = req.maxTokens ?? this.deps.maxOutputEstimate;
    // The most expensive target the route may fall back to bounds the cost of this request.
    const reserved = priced
      ? Math.max(
          0,
          ...targets.map((t) =>
            costUsd(t.price, { promptTokens, completionTokens: maxOut, cachedTokens: 0 }),
          ),
        )
      : 0;
    const costTicks = toTicks(reserved);
    // The plan's quotas first: a call refused by a rate limit gives its reservation back below.
    const quota = await this.#quotas?.reserve(principal, ['requests', 'tokens', 'costUsd'], () => {
      const tokens = promptTokens || this.#promptTokens.count(principal.tenantId, req.input);
      const worst = Math.max(
        0,
        ...targets.map((t) =>
          costUsd(t.price, { promptTokens: tokens, completionTokens: maxOut, cachedTokens: 0 }),
        ),
      );
      return { requests: 1, tokens: tokens + maxOut, costUsd: toTicks(worst) };
    });
    const budget: BudgetRequest | undefined =
      costTicks > 0
        ? {
            scopes,
            costTicks,
            reservationId: randomUUID(),
            durableSpent: async (missing) => {
              // This instance's unwritten spend first, so the seed includes it.
              await this.deps.spend.flush();
              return db.withTenant(principal, (tx) => durableSpentTicks(tx, missing));
            },
          }
        : undefined;
    let admitted: Awaited<ReturnType<Limiter['admit']>>;
    try {
      admitted = await limiter.admit(
        {
          tenantId: principal.tenantId,
          keyId: principal.keyId,
          keyLimits: key.limits,
          tenantLimits: tenant,
        },
        promptTokens + maxOut,
        budget,
      );
    } catch (err) {
      await quota?.settle({});
      throw err;
    }
    const { lease, headers } = admitted;
    let inPostgres = false;
    if (budget && !lease.budgetHeld) {
      try {
        await db.withTenant(principal, async (tx) => {
          const full = await reserveBudgets(
            tx,
            scopes,
            ticksToDecimal(costTicks),
            budget.reservationId,
            this.deps.reservationTtlMs,
          );
          // Throwing rolls back the scopes already reserved in this transaction.
          if (full) throw budgetExceeded(full);
        });
        inPostgres = true;
      } catch (err) {
        await lease.end(undefined, 0);
        await quota?.settle({});
        throw err;
      }
    }
    return this.#admission(principal, lease, headers, budget, inPostgres, targets, quota);
  }

  #admission(
    principal: Principal,
    lease: Lease,
    headers: Record<string, string>,
    budget: BudgetRequest | undefined,
    inPostgres: boolean,
    targets: readonly PricedTarget[],
    quota: QuotaReservation | undefined,
  ): Admission {
    let ended: Promise<void> | undefined;
    const settle = async (usage: Usage | undefined, targetModel: string | undefined) => {
      // The plan bills what the ledger bills: answered calls, their tokens and their cost.
      const quotaSettled = quota?.settle(
        usage && targetModel !== undefined
          ? {
              requests: 1,
              tokens: usage.promptTokens + usage.completionTokens,
              costUsd: toTicks(costUsd(targets.find((t) => t.model === targetModel)?.price, usage)),
            }
          : {},
      );
      const reserved = budget?.costTicks ?? 0;
      // Called but no usage reported: charge the whole reservation rather than nothing.
      const actual =
        targetModel === undefined
          ? 0
          : usage
            ? Math.min(
                toTicks(costUsd(targets.find((t) => t.model === targetModel)?.price, usage)),
                reserved,
              )
            : reserved;
      await lease.end(usage ? usage.promptTokens + usage.completionTokens : undefined, actual);
      await quotaSettled;
      if (!budget) return;
      if (lease.budgetHeld) this.deps.spend.add(principal.tenantId, budget.scopes, actual);
      else if (inPostgres)
        await this.deps.db.withTenant(principal, async (tx) => {
          await settleBudgets(tx, budget.scopes, budget.reservationId, ticksToDecimal(actual));
          await announceBudgetThresholds(tx, budget.scopes);
        });
    };
    return {
      headers,
      end: (usage, targetModel) => {
        if (ended) return Promise.resolve();
        ended = settle(usage, targetModel).catch((err: unknown) =>
          // The reservation stays held until the reclaim sweep: the budget errs on the safe side.
          this.deps.logger.error(
            { err: { message: (err as Error).message } },
            'budget settle failed',
          ),
        );
        const p = ended;
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
        // Off the response's critical path: the settle is queued for this turn's Redis batch
        // (which the limiter sends before any later admit), or the in-process settle already ran;
        // either way this client's next admit is ordered after it. flush() awaits it.
        return Promise.resolve();
      },
    };
  }

  /** Waits for settlements still in flight, then writes the settled spend (shutdown, tests). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    await this.deps.limiter.flush();
    await this.deps.spend.flush();
  }

  /** flush(), then lets go of the in-process budgets (the next app on the database re-seeds). */
  async close(): Promise<void> {
    await this.flush();
    this.deps.limiter.close();
    this.deps.release?.();
  }
}
