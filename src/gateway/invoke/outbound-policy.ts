import { maskPii, type PiiKind } from '../../knowledge/pii-service.js';
import type { ChatRequest, ProviderDataPolicy } from '../providers/types.js';

/**
 * What one upstream target may receive (decision 020): whether its prompts are PII-redacted,
 * and which document data classes may reach it (undefined: every class).
 */
export interface OutboundPolicy {
  redactPii: boolean;
  allowDataClasses: readonly string[] | undefined;
}

export const OPEN_POLICY: OutboundPolicy = { redactPii: false, allowDataClasses: undefined };

/**
 * A provider's effective policy: its own dataPolicy, plus redaction when the tenant requires it
 * for every provider not marked self-hosted.
 */
export function outboundPolicyOf(
  provider: { dataPolicy?: ProviderDataPolicy | undefined; selfHosted?: boolean | undefined },
  tenantRequiresRedaction: boolean,
): OutboundPolicy {
  const own = provider.dataPolicy;
  const redactPii =
    own?.redactPii === true || (tenantRequiresRedaction && provider.selfHosted !== true);
  const allowDataClasses = own?.allowDataClasses;
  if (!redactPii && allowDataClasses === undefined) return OPEN_POLICY;
  return { redactPii, allowDataClasses };
}

/**
 * The data classes every one of these targets allows (a route's targets and fallbacks: any of
 * them may end up answering, so a chunk must be allowed by all); null: no restriction.
 */
export function allowedByAll(policies: readonly OutboundPolicy[]): string[] | null {
  let allowed: Set<string> | null = null;
  for (const p of policies) {
    if (p.allowDataClasses === undefined) continue;
    const mine = new Set<string>(p.allowDataClasses);
    const before: Set<string> | null = allowed;
    allowed = before === null ? mine : new Set([...before].filter((c: string) => mine.has(c)));
  }
  return allowed === null ? null : [...allowed].sort();
}

export type RedactionCounts = Record<PiiKind, number>;

export interface Redacted {
  body: ChatRequest;
  counts: RedactionCounts;
  total: number;
}

/**
 * The chat request with PII masked in every message's text (string content and text parts,
 * tool results included), by the knowledge hub's detector. The caller's body is not mutated.
 */
export function redactChatRequest(body: ChatRequest): Redacted {
  const counts: RedactionCounts = { email: 0, phone: 0, ssn: 0, card: 0, iban: 0 };
  let total = 0;
  const mask = (text: string): string => {
    const r = maskPii(text);
    for (const k of Object.keys(r.counts) as PiiKind[]) {
      counts[k] += r.counts[k];
      total += r.counts[k];
    }
    return r.text;
  };
  const messages = body.messages.map((m) => {
    const content = m.content;
    if (typeof content === 'string') return { ...m, content: mask(content) };
    if (Array.isArray(content))
      return {
        ...m,
        content: content.map((part: unknown) =>
          typeof part === 'object' &&
          part !== null &&
          (part as { type?: unknown }).type === 'text' &&
          typeof (part as { text?: unknown }).text === 'string'
            ? { ...part, text: mask((part as { text: string }).text) }
            : part,
        ),
      };
    return m;
  });
  return { body: { ...body, messages }, counts, total };
}
