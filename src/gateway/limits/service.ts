import { countTokens } from 'gpt-tokenizer';
import type { Logger } from 'pino';
import type { Database, TenantTx } from '../../platform/db/database.js';
import { Forbidden } from '../../platform/http/errors.js';
import type { Principal } from '../../platform/http/principal.js';
import { builtinPrice, type ModelPrice } from '../prices.js';
import type { Usage } from '../providers/types.js';
import { budgetExceeded, type Lease, type Limiter } from './limiter.js';
import type { Limits } from './schema.js';
import {
  getTenantLimits,
  loadLimits,
  putTenantLimits,
  reserveBudgets,
  settleBudgets,
  type BudgetScope,
} from './store.js';

/** What the invoke path holds for one request; `end` settles and releases exactly once. */
export interface Admission {
  /** targetModel undefined: no upstream call was made (release all); usage undefined: charge the reservation. */
  end(usage: Usage | undefined, targetModel: string | undefined): Promise<void>;
}

function periodStart(period: Limits['budgetPeriod'], now = new Date()): string {
  const iso = now.toISOString().slice(0, 10);
  return period === 'month' ? `${iso.slice(0, 8)}01` : iso;
}

async function pricesFor(tx: TenantTx, models: string[]): Promise<Map<string, ModelPrice>> {
  const { rows } = await tx.query<{ model: string; i: string; o: string; c: string }>(
    `SELECT model, input_per_mtok AS i, output_per_mtok AS o, cached_input_per_mtok AS c
       FROM model_prices WHERE tenant_id = $1 AND model = ANY($2::text[])`,
    [tx.tenantId, models],
  );
  const out = new Map<string, ModelPrice>();
  for (const m of models) {
    const b = builtinPrice(m);
    if (b) out.set(m, b);
  }
  for (const r of rows)
    out.set(r.model, { input: Number(r.i), output: Number(r.o), cachedInput: Number(r.c) });
  return out;
}

/** USD of a usage at a price (per million tokens). */
function costOf(p: ModelPrice | undefined, u: Usage): number {
  if (!p) return 0;
  const cached = Math.min(u.cachedTokens, u.promptTokens);
  return (
    ((u.promptTokens - cached) * p.input + cached * p.cachedInput + u.completionTokens * p.output) /
    1e6
  );
}

/**
 * Model allow-lists, rate limits and budgets around one gateway call. Budgets live in Postgres
 * (budget_spend): the reservation is a conditional UPDATE under the row lock, so the settled
 * spend can never pass the budget however many replicas share the database.
 */
export class LimitsService {
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly limiter: Limiter,
    private readonly maxOutputEstimate: number,
    private readonly logger: Logger,
  ) {}

  getTenant(principal: Principal): Promise<Limits> {
    return this.db.withTenant(principal, (tx) => getTenantLimits(tx));
  }

  async putTenant(principal: Principal, limits: Limits): Promise<Limits> {
    await this.db.withTenant(principal, (tx) => putTenantLimits(tx, limits));
    return limits;
  }

  /** The aliases this key may call (null: all). */
  async allowedModels(principal: Principal): Promise<string[] | null> {
    const l = await this.db.withTenant(principal, (tx) => loadLimits(tx, principal.keyId));
    return l.key.models;
  }

  /**
   * Admits one request: 403 model_not_allowed, 429 rate_limited, 429 budget_exceeded, or an
   * Admission the caller must end() once the request is over (success, failure or disconnect).
   */
  async admit(
    principal: Principal,
    req: { model: string; input: unknown; maxTokens: number | undefined },
    targetModels: string[],
  ): Promise<Admission> {
    const { limits, prices } = await this.db.withTenant(principal, async (tx) => ({
      limits: await loadLimits(tx, principal.keyId),
      prices: await pricesFor(tx, [...new Set(targetModels)]),
    }));
    if (limits.key.models && !limits.key.models.includes(req.model))
      throw new Forbidden(
        `This API key may not use the model '${req.model}'.`,
        'model_not_allowed',
      );

    const promptTokens = countTokens(JSON.stringify(req.input ?? ''));
    const maxOut = req.maxTokens ?? this.maxOutputEstimate;
    const { lease } = await this.limiter.admit(
      {
        tenantId: principal.tenantId,
        keyId: principal.keyId,
        keyLimits: limits.key.limits,
        tenantLimits: limits.tenant,
      },
      promptTokens + maxOut,
    );

    const scopes: BudgetScope[] = [];
    const k = limits.key.limits;
    const t = limits.tenant;
    if (principal.keyId && k.budgetUsd !== undefined)
      scopes.push({
        scope: 'key',
        scopeId: principal.keyId,
        periodStart: periodStart(k.budgetPeriod),
        budgetUsd: k.budgetUsd,
      });
    if (t.budgetUsd !== undefined)
      scopes.push({
        scope: 'tenant',
        scopeId: principal.tenantId,
        periodStart: periodStart(t.budgetPeriod),
        budgetUsd: t.budgetUsd,
      });
    // The most expensive target the route may fall back to bounds the cost of this request.
    const reserved = Math.max(
      0,
      ...targetModels.map((m) =>
        costOf(prices.get(m), { promptTokens, completionTokens: maxOut, cachedTokens: 0 }),
      ),
    );
    if (scopes.length > 0 && reserved > 0) {
      try {
        await this.db.withTenant(principal, async (tx) => {
          const full = await reserveBudgets(tx, scopes, reserved);
          // Throwing rolls back the scopes already reserved in this transaction.
          if (full)
            throw budgetExceeded(
              `The ${full.scope} budget of $${full.budgetUsd} per ${k.budgetPeriod ?? t.budgetPeriod ?? 'day'} is exhausted.`,
            );
        });
      } catch (err) {
        lease.release();
        throw err;
      }
    }
    return this.#admission(principal, lease, scopes, reserved, prices, promptTokens + maxOut);
  }

  #admission(
    principal: Principal,
    lease: Lease,
    scopes: BudgetScope[],
    reserved: number,
    prices: Map<string, ModelPrice>,
    estimatedTokens: number,
  ): Admission {
    let ended: Promise<void> | undefined;
    return {
      end: (usage, targetModel) => {
        ended ??= (async () => {
          lease.release();
          lease.settleTokens(usage ? usage.promptTokens + usage.completionTokens : estimatedTokens);
          if (scopes.length === 0 || reserved <= 0) return;
          // Called but no usage reported: charge the whole reservation rather than nothing.
          const actual =
            targetModel === undefined
              ? 0
              : usage
                ? costOf(prices.get(targetModel), usage)
                : reserved;
          await this.db.withTenant(principal, (tx) => settleBudgets(tx, scopes, reserved, actual));
        })().catch((err: unknown) =>
          // The reservation stays held: the budget errs on the safe side.
          this.logger.error({ err: { message: (err as Error).message } }, 'budget settle failed'),
        );
        const p = ended;
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
        return p;
      },
    };
  }

  /** Waits for settlements still in flight (shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
}
