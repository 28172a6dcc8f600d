import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * An event time as hashed: UTC with exactly six fractional digits, the precision timestamptz
 * stores. Hashing the full stored precision means even a sub-millisecond edit of occurred_at
 * changes the hash (a millisecond ISO string would let it through).
 */
export function canonicalTime(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

/** The SQL expression that renders a stored occurred_at in canonicalTime's format. */
export const CANONICAL_TIME_SQL = `to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A string as Postgres can store and return it unchanged: text and jsonb reject NUL, and UTF-8
 * cannot carry a lone surrogate (the driver would silently store U+FFFD, and the hash computed
 * before the write would never verify). Both become U+FFFD before hashing.
 */
export function storableText(s: string): string {
  return s.replace(LONE_SURROGATE, '\ufffd').replaceAll('\u0000', '\ufffd');
}

/** A JSON value (already JSON-round-tripped) with every key and string made storable. */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, storableText(k), {
        value: storableJson(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** The fields an audit hash covers, in the form they are stored. */
export interface ChainedFields {
  tenantId: string;
  seq: number;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  outcome: string;
  ip: string | null;
  requestId: string | null;
  details: unknown;
  prevHash: string;
}

/**
 * JSON with object keys sorted (by UTF-16 code units) at every depth and no whitespace: one
 * string per value, whatever order the keys were written or jsonb returned them in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * SHA-256 (hex) over the canonical encoding of an event, which includes the previous hash.
 * Fields go in a fixed-position array (not an object) so no field can be confused with another,
 * and the version tag lets a future encoding coexist with chains written under this one.
 */
export function hashEvent(e: ChainedFields): string {
  const encoded = canonicalJson([
    'rampart.audit.v1',
    e.tenantId,
    e.seq,
    e.occurredAt,
    e.actorType,
    e.actorId,
    e.action,
    e.targetType,
    e.targetId,
    e.outcome,
    e.ip,
    e.requestId,
    e.details,
    e.prevHash,
  ]);
  return createHash('sha256').update(encoded).digest('hex');
}
