import type { Fallback, RouteCache, Target } from './routing-store.js';
import { at } from '../../platform/checked.js';

/**
 * One target in try order. It carries its route's cache setting so the invoke path learns it
 * from the plan it already loads, without another query per request.
 */
export interface Step extends Fallback {
  cache?: RouteCache;
}

/** Picks one target with probability proportional to its weight (canary splits). */
export function pickWeighted(
  targets: readonly Target[],
  random: () => number = Math.random,
): Target {
  const total = targets.reduce((s, t) => s + Math.max(0, t.weight), 0);
  if (total <= 0) return at(targets, 0);
  let r = random() * total;
  for (const t of targets) {
    r -= Math.max(0, t.weight);
    if (r < 0) return t;
  }
  return targets.findLast((t) => t.weight > 0) as Target;
}

export interface RouteSteps {
  targets: readonly Target[];
  fallbacks: readonly Fallback[];
  cache?: RouteCache | null | undefined;
}

/** Whether a route's steps depend on the model name the client asked for ('*' targets). */
export function passesModelThrough(route: RouteSteps): boolean {
  return route.targets.some((t) => t.model === '*') || route.fallbacks.some((f) => f.model === '*');
}

/**
 * The order in which targets are tried once the weighted pick is made: `chosen`, then the
 * fallbacks in order, without repeats. A '*' model means "the model name the client asked
 * for" (pass-through routes).
 */
export function stepsFrom(route: RouteSteps, chosen: Target, requestedModel: string): Step[] {
  const seen = new Set<string>();
  const out: Step[] = [];
  for (const t of [chosen, ...route.fallbacks]) {
    const model = t.model === '*' ? requestedModel : t.model;
    const key = `${t.provider}\u0000${model}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(
      route.cache
        ? { provider: t.provider, model, cache: route.cache }
        : { provider: t.provider, model },
    );
  }
  return out;
}
