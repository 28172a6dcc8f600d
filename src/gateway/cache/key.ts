import { createHash } from 'node:crypto';

/**
 * Request fields that do not change the answer: who the end user is (`user`), bookkeeping the
 * upstream keeps (`metadata`, `store`) and how it is delivered (`stream`, `stream_options`;
 * only non-streaming requests reach the cache). Everything else, unknown fields included, is
 * part of the key: a field we do not understand might change the answer.
 */
const IGNORED_FIELDS = new Set(['user', 'metadata', 'store', 'stream', 'stream_options']);

/** JSON with object keys sorted at every depth, so equal requests serialise identically. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(obj).sort()) {
      const v = obj[k];
      if (v === undefined || typeof v === 'function') continue;
      parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The cache key of one request: namespaced by tenant in clear (so one tenant's entries can be
 * found and dropped, and a key can never collide across tenants), then a digest of the
 * endpoint, the alias and the normalised body.
 */
export function cacheKey(
  tenantId: string,
  endpoint: 'chat' | 'embeddings',
  alias: string,
  body: Record<string, unknown>,
): string {
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!IGNORED_FIELDS.has(k)) kept[k] = v;
  const digest = createHash('sha256')
    .update(endpoint)
    .update('\u0000')
    .update(alias)
    .update('\u0000')
    .update(canonicalJson(kept))
    .digest('base64url');
  return `rampart:gwcache:v1:${tenantId}:${digest}`;
}
