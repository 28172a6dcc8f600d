import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** One platform-wide provider from GATEWAY_PROVIDERS_FILE. */
export interface PlatformProviderSetting {
  name: string;
  type: 'openai' | 'anthropic';
  baseUrl?: string | undefined;
  apiKey: string;
  headers: Record<string, string>;
  /** The outbound data policy (decision 020). */
  dataPolicy?: { redactPii?: boolean | undefined; allowDataClasses?: string[] | undefined };
  selfHosted?: boolean | undefined;
}

const PlatformProvidersFile = z.strictObject({
  providers: z
    .array(
      z
        .strictObject({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits and _.-'),
          type: z.enum(['openai', 'anthropic']),
          baseUrl: z.url({ protocol: /^https?$/ }).optional(),
          apiKey: z.string().min(1).optional(),
          apiKeyFile: z.string().min(1).optional(),
          headers: z.record(z.string(), z.string()).default({}),
          dataPolicy: z
            .strictObject({
              redactPii: z.boolean().optional(),
              allowDataClasses: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/)).optional(),
            })
            .optional(),
          selfHosted: z.boolean().optional(),
        })
        .refine((p) => (p.apiKey === undefined) !== (p.apiKeyFile === undefined), {
          message: 'give exactly one of apiKey or apiKeyFile',
        }),
    )
    .refine((ps) => new Set(ps.map((p) => p.name)).size === ps.length, 'names must be unique'),
});

/** Reads the operator's platform providers file; problems are reported like bad settings. */
export function readPlatformProviders(path: string, problems: string[]): PlatformProviderSetting[] {
  let parsed: z.output<typeof PlatformProvidersFile>;
  try {
    const result = PlatformProvidersFile.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!result.success) {
      const where = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
      problems.push(`GATEWAY_PROVIDERS_FILE: ${path}: ${where.join('; ')}`);
      return [];
    }
    parsed = result.data;
  } catch (err) {
    problems.push(`GATEWAY_PROVIDERS_FILE: cannot read ${path}: ${(err as Error).message}`);
    return [];
  }
  const out: PlatformProviderSetting[] = [];
  for (const p of parsed.providers) {
    let apiKey = p.apiKey;
    if (p.apiKeyFile !== undefined) {
      try {
        apiKey = readFileSync(p.apiKeyFile, 'utf8').trim();
      } catch (err) {
        problems.push(
          `GATEWAY_PROVIDERS_FILE: provider '${p.name}': cannot read apiKeyFile: ${(err as Error).message}`,
        );
        continue;
      }
    }
    out.push({
      name: p.name,
      type: p.type,
      baseUrl: p.baseUrl,
      apiKey: apiKey ?? '',
      headers: Object.fromEntries(Object.entries(p.headers).map(([k, v]) => [k.toLowerCase(), v])),
      dataPolicy: p.dataPolicy,
      selfHosted: p.selfHosted,
    });
  }
  return out;
}
