import { z } from 'zod';
import { safeString } from '../../platform/http/safe-string.js';

export const ProviderName = safeString().regex(
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
  'letters, digits and _.- (max 64)',
);
export const ProviderTypeSchema = z.enum(['openai', 'anthropic']);
const BaseUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  // z.url() reports an unparseable URL but runs the next checks anyway: new URL() must not throw here.
  .refine((u) => {
    const parsed = URL.canParse(u) ? new URL(u) : undefined;
    return !parsed || (!parsed.username && !parsed.password);
  }, 'must not contain credentials');
// Header names a provider may set: secrets go in apiKey, and the hop-by-hop and framing
// headers belong to the connection the gateway makes (a stored `connection` or
// `transfer-encoding` would break every call through the provider).
const RESERVED_HEADERS = new Set([
  'authorization',
  'x-api-key',
  'api-key',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);
function reservedHeaderReason(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (
    lower === 'authorization' ||
    lower === 'x-api-key' ||
    lower === 'api-key' ||
    lower === 'cookie'
  )
    return 'this header carries credentials; put the provider key in apiKey';
  if (RESERVED_HEADERS.has(lower) || lower.startsWith('proxy-'))
    return 'this header is set by the gateway for each connection and cannot be configured';
  return undefined;
}
// What an HTTP client will send as a header value (tab, visible ASCII, Latin-1); CR, LF and
// NUL would split or end the header.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const Headers = z
  .record(
    safeString().regex(/^[A-Za-z0-9-]{1,100}$/, 'header names are letters, digits and hyphens'),
    safeString()
      .max(2000)
      .regex(HEADER_VALUE, 'header values must not contain line breaks or control characters'),
  )
  .superRefine((h, ctx) => {
    for (const name of Object.keys(h)) {
      const reason = reservedHeaderReason(name);
      if (reason) ctx.addIssue({ code: 'custom', path: [name], message: reason });
    }
    if (Object.keys(h).length > 20) ctx.addIssue({ code: 'custom', message: 'at most 20 headers' });
  })
  .transform((h) =>
    Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v] as const)),
  );
// Sent as a header value (Authorization or x-api-key): visible ASCII only.
const ApiKey = safeString()
  .min(1)
  .max(4000)
  .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII characters, without spaces or line breaks');

/** A document data class: the `class:<name>` tag of a document (decision 020). */
export const DataClassName = safeString().regex(
  /^[a-z0-9][a-z0-9_-]{0,63}$/,
  'lower-case letters, digits, _ and - (max 64)',
);
/** What may be sent to the provider (docs/governance.md, "Outbound data policy"). */
export const DataPolicySchema = z
  .strictObject({
    redactPii: z
      .boolean()
      .default(false)
      .describe('mask e-mails, phone numbers, SSNs, card numbers and IBANs in prompts'),
    allowDataClasses: z
      .array(DataClassName)
      .max(50)
      .optional()
      .describe(
        'the only document data classes (tag class:<name>) whose chunks may be sent; absent: all',
      ),
  })
  .describe("the provider's outbound data policy");

export const CreateProviderBody = z.strictObject({
  name: ProviderName,
  type: ProviderTypeSchema,
  baseUrl: BaseUrl.optional(),
  apiKey: ApiKey,
  headers: Headers.optional(),
  dataPolicy: DataPolicySchema.optional(),
  selfHosted: z
    .boolean()
    .optional()
    .describe("runs on the tenant's own infrastructure (exempt from requirePiiRedaction)"),
});
export const PatchProviderBody = z
  .strictObject({
    name: ProviderName.optional(),
    baseUrl: BaseUrl.optional(),
    apiKey: ApiKey.optional(),
    headers: Headers.optional(),
    dataPolicy: DataPolicySchema.optional(),
    selfHosted: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field is required');
export const ProviderSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: ProviderTypeSchema,
  baseUrl: z.string(),
  headers: z.record(z.string(), z.string()),
  dataPolicy: z.object({
    redactPii: z.boolean(),
    allowDataClasses: z.array(z.string()).optional(),
  }),
  selfHosted: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const Alias = safeString().regex(
  /^(\*|[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127})$/,
  "an alias (letters, digits, _.:/-) or '*'",
);
const ModelName = safeString().min(1).max(200);
export const TargetSchema = z.strictObject({
  provider: ProviderName,
  model: ModelName,
  weight: z.number().int().min(0).max(10_000).default(1),
});
export const FallbackSchema = z.strictObject({ provider: ProviderName, model: ModelName });
export const RouteCacheSchema = z.strictObject({
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600),
});
export const RouteBody = z.strictObject({
  targets: z
    .array(TargetSchema)
    .min(1, 'at least one target is required')
    .max(20)
    .refine((t) => t.some((x) => x.weight > 0), 'at least one target needs a weight above 0'),
  fallbacks: z.array(FallbackSchema).max(10).default([]),
  /** Exact-match response cache for this alias's non-streaming requests; null/absent: off. */
  cache: RouteCacheSchema.nullish(),
});
export const CreateRouteBody = RouteBody.extend({ alias: Alias });
export const AliasParams = z.object({ alias: Alias });
export const RouteSchema = z.object({
  alias: z.string(),
  targets: z.array(z.object({ provider: z.string(), model: z.string(), weight: z.number() })),
  fallbacks: z.array(z.object({ provider: z.string(), model: z.string() })),
  cache: z.object({ ttlSeconds: z.number() }).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const Price = z.number().min(0).max(1_000_000);
export const ModelParams = z.object({ model: ModelName });
export const PutPriceBody = z.strictObject({
  input: Price,
  output: Price,
  cachedInput: Price.optional(),
});
export const PriceSchema = z.object({
  model: z.string(),
  input: z.number(),
  output: z.number(),
  cachedInput: z.number(),
  source: z.enum(['builtin', 'tenant']),
});
