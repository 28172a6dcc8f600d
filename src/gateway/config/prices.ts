import type { Usage } from '../providers/types.js';

/** USD per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
  cachedInput: number;
}

/**
 * Built-in list prices for common models (USD per 1M tokens, from the providers' public price
 * pages). Tenants override or add models with PUT /v1/prices/:model.
 */
export const BUILTIN_PRICES: Readonly<Record<string, ModelPrice>> = {
  'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075 },
  'gpt-4.1': { input: 2, output: 8, cachedInput: 0.5 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cachedInput: 0.1 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cachedInput: 0.025 },
  'o3-mini': { input: 1.1, output: 4.4, cachedInput: 0.55 },
  'text-embedding-3-small': { input: 0.02, output: 0, cachedInput: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0, cachedInput: 0 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cachedInput: 0.08 },
  'claude-3-7-sonnet': { input: 3, output: 15, cachedInput: 0.3 },
  'claude-sonnet-4': { input: 3, output: 15, cachedInput: 0.3 },
  'claude-opus-4': { input: 15, output: 75, cachedInput: 1.5 },
};

// -2024-07-18, -20250514, -0125, -latest
const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)$/;
const NAMES_LONGEST_FIRST = Object.keys(BUILTIN_PRICES).sort((a, b) => b.length - a.length);

/**
 * The built-in price of a model: exact name, else the longest known name it starts with
 * followed by a snapshot suffix (gpt-4o-mini-2024-07-18, claude-sonnet-4-20250514, …-latest).
 */
export function builtinPrice(model: string): ModelPrice | undefined {
  const exact = BUILTIN_PRICES[model];
  if (exact) return exact;
  const base = NAMES_LONGEST_FIRST.find(
    (n) => model.startsWith(n) && SNAPSHOT_SUFFIX.test(model.slice(n.length)),
  );
  return base ? BUILTIN_PRICES[base] : undefined;
}

/** USD of a usage at a price (per million tokens). */
export function costUsd(p: ModelPrice | undefined, u: Usage): number {
  if (!p) return 0;
  const cached = Math.min(u.cachedTokens, u.promptTokens);
  return (
    ((u.promptTokens - cached) * p.input + cached * p.cachedInput + u.completionTokens * p.output) /
    1e6
  );
}
