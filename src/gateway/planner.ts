import { AppError } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import type { Attempt } from './attempts.js';
import { ADAPTERS } from './providers/index.js';
import { attemptOrder } from './routing.js';
import type { TenantConfigCache, TenantGatewayConfig } from './tenant-config.js';

export function modelNotFound(model: string): AppError {
  return new AppError(
    404,
    'model_not_found',
    `The model '${model}' does not exist or you do not have access to it.`,
    { errors: [{ field: 'body.model', message: 'unknown model' }] },
  );
}

/** Resolves a requested model name to the ordered upstream attempts of its route. */
export class Planner {
  constructor(private readonly cache: TenantConfigCache) {}

  /** The tenant's cached gateway configuration (routes, providers, prices, limits). */
  config(principal: Principal): Promise<TenantGatewayConfig> {
    return this.cache.get(principal);
  }

  async plan(principal: Principal, model: string): Promise<Attempt[]> {
    const config = await this.cache.get(principal);
    const route = config.route(model);
    if (!route) throw modelNotFound(model);
    const attempts: Attempt[] = [];
    for (const step of attemptOrder(route, model)) {
      const provider = config.provider(step.provider);
      if (!provider) continue; // deleting a provider a route uses is refused; this is only a race
      attempts.push({
        ...step,
        adapter: ADAPTERS[provider.type],
        price: config.price(step.model),
        // Decrypted only when this attempt is actually made, then memoised in the snapshot.
        get config() {
          return provider.config;
        },
      });
    }
    if (attempts.length === 0) throw modelNotFound(model);
    return attempts;
  }
}
