/** What one streamed chunk carries: its text, the final usage, the upstream model that answered. */
export interface ChunkParts {
  delta?: string;
  usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens: number };
  model?: string;
}

/** Reads one `data:` line of a chat completion stream (OpenAI chunk shape). */
export function chunkOf(data: string): ChunkParts {
  const parsed: unknown = JSON.parse(data);
  if (typeof parsed !== 'object' || parsed === null) return {};
  const o = parsed as {
    model?: unknown;
    choices?: { delta?: { content?: unknown } }[];
    usage?: {
      prompt_tokens: number;
      completion_tokens: number;
      prompt_tokens_details?: { cached_tokens?: number } | null;
    } | null;
  };
  const content = o.choices?.[0]?.delta?.content;
  return {
    ...(typeof content === 'string' ? { delta: content } : {}),
    ...(typeof o.model === 'string' && o.model ? { model: o.model } : {}),
    ...(o.usage
      ? {
          usage: {
            prompt_tokens: o.usage.prompt_tokens,
            completion_tokens: o.usage.completion_tokens,
            cached_tokens: o.usage.prompt_tokens_details?.cached_tokens ?? 0,
          },
        }
      : {}),
  };
}

/** USD per million tokens, as GET /v1/prices lists them. */
export interface Price {
  input: number;
  output: number;
  cachedInput: number;
}

/**
 * The request's cost as the gateway meters it (src/gateway/config/prices.ts `costUsd`): cached
 * prompt tokens at the cached price, the rest at the input price, completion at the output price.
 */
export function requestCostUsd(price: Price, usage: NonNullable<ChunkParts['usage']>): number {
  const cached = Math.min(usage.cached_tokens, usage.prompt_tokens);
  return (
    ((usage.prompt_tokens - cached) * price.input +
      cached * price.cachedInput +
      usage.completion_tokens * price.output) /
    1e6
  );
}

/**
 * The listed price for the model that answered: its exact name, else the longest listed name it
 * extends with a dash (a dated snapshot such as gpt-4o-mini-2024-07-18). GET /v1/prices lists
 * one price a model, a tenant override in place of the built-in one.
 */
export function priceFor<P extends { model: string }>(
  model: string,
  prices: readonly P[],
): P | undefined {
  const exact = prices.find((p) => p.model === model);
  if (exact) return exact;
  return prices
    .filter((p) => model.startsWith(`${p.model}-`))
    .sort((a, b) => b.model.length - a.model.length)[0];
}
