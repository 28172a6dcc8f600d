import { AppError } from '../../platform/http/errors.js';
import type { Principal } from '../../platform/http/principal.js';
import type { Attempt } from './attempts.js';
import { allowedByAll, outboundPolicyOf, type OutboundPolicy } from './outbound-policy.js';
import { ADAPTERS } from '../providers/index.js';
import type { ProviderAdapter, ProviderConfig } from '../providers/types.js';
import type { ModelPrice } from '../config/prices.js';
import { passesModelThrough, pickWeighted, stepsFrom, type Step } from '../config/routing.js';
import type { RouteCache, RouteRow, Target } from '../config/routing-store.js';
import type {
  ProviderHandle,
  TenantConfigCache,
  TenantGatewayConfig,
} from '../config/tenant-config.js';

export function modelNotFound(model: string): AppError {
  return new AppError(
    404,
    'model_not_found',
    `The model '${model}' does not exist or you do not have access to it.`,
    { errors: [{ field: 'body.model', message: 'unknown model' }] },
  );
}

/** One upstream attempt of a plan. Its credential is decrypted when `config` is first read. */
class PlannedAttempt implements Attempt {
  readonly provider: string;
  readonly model: string;
  readonly cache: RouteCache | undefined;
  readonly outbound: OutboundPolicy;

  constructor(
    step: Step,
    private readonly handle: ProviderHandle,
    readonly adapter: ProviderAdapter,
    readonly price: ModelPrice | undefined,
    requirePiiRedaction: boolean,
  ) {
    this.provider = step.provider;
    this.model = step.model;
    this.cache = step.cache;
    this.outbound = outboundPolicyOf(handle, requirePiiRedaction);
  }

  get config(): ProviderConfig {
    return this.handle.config;
  }
}

/**
 * Resolves a requested model name to the ordered upstream attempts of its route. A route that
 * names its models has one plan per weighted pick, built once per config snapshot (its rows are
 * the cache keys) and shared, read-only, by every request that draws that pick.
 */
export class Planner {
  readonly #plans = new WeakMap<RouteRow, Map<Target, Attempt[]>>();

  constructor(private readonly cache: TenantConfigCache) {}

  /** The tenant's cached gateway configuration (routes, providers, prices, limits). */
  config(principal: Principal): Promise<TenantGatewayConfig> {
    return this.cache.get(principal);
  }

  async plan(principal: Principal, model: string): Promise<Attempt[]> {
    const config = await this.cache.get(principal);
    const route = config.route(model);
    if (!route) throw modelNotFound(model);
    const chosen = pickWeighted(route.targets);
    if (passesModelThrough(route)) return build(config, stepsFrom(route, chosen, model), model);
    let byPick = this.#plans.get(route);
    if (!byPick) this.#plans.set(route, (byPick = new Map()));
    let attempts = byPick.get(chosen);
    if (!attempts)
      byPick.set(chosen, (attempts = build(config, stepsFrom(route, chosen, model), model)));
    return attempts;
  }

  /**
   * The document data classes a request for `model` may carry (decision 020): those allowed by
   * every provider that could answer it — each weighted target of its route and each fallback,
   * since any of them may end up serving the call. null: no restriction.
   */
  async dataClassesAllowed(
    principal: Principal,
    model: string,
    direct?: { name: string; config: ProviderConfig },
  ): Promise<string[] | null> {
    const config = await this.cache.get(principal);
    if (direct) return allowedByAll([outboundPolicyOf(direct.config, config.requirePiiRedaction)]);
    const route = config.route(model);
    if (!route) throw modelNotFound(model);
    const policies: OutboundPolicy[] = [];
    for (const t of [...route.targets.filter((x) => x.weight > 0), ...route.fallbacks]) {
      const handle = config.provider(t.provider);
      if (handle) policies.push(outboundPolicyOf(handle, config.requirePiiRedaction));
    }
    return allowedByAll(policies);
  }

  /**
   * The one attempt of a named platform provider and model, outside the tenant's routes: an
   * in-process caller's platform default (e.g. the knowledge hub's EMBEDDINGS_* model). Priced
   * like a routed call (the tenant's override, else the built-in price).
   */
  async planDirect(
    principal: Principal,
    target: { name: string; config: ProviderConfig },
    model: string,
  ): Promise<Attempt[]> {
    const config = await this.cache.get(principal);
    const handle: ProviderHandle = {
      type: target.config.type,
      config: target.config,
      dataPolicy: target.config.dataPolicy,
      selfHosted: target.config.selfHosted,
    };
    return [
      new PlannedAttempt(
        { provider: target.name, model },
        handle,
        ADAPTERS[target.config.type],
        config.price(model),
        config.requirePiiRedaction,
      ),
    ];
  }
}

function build(config: TenantGatewayConfig, steps: Step[], model: string): Attempt[] {
  const attempts: Attempt[] = [];
  for (const step of steps) {
    const provider = config.provider(step.provider);
    if (!provider) continue; // deleting a provider a route uses is refused; this is only a race
    attempts.push(
      new PlannedAttempt(
        step,
        provider,
        ADAPTERS[provider.type],
        config.price(step.model),
        config.requirePiiRedaction,
      ),
    );
  }
  if (attempts.length === 0) throw modelNotFound(model);
  return attempts;
}
