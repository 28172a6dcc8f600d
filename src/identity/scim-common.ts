import { AppError } from '../platform/http/errors.js';
import type { RequestMeta } from '../platform/http/principal.js';
import { parseFilter, filterToSql, type FilterSchema } from './scim-filter.js';
import { MAX_RESULTS, etagOf } from './scim-resources.js';

/** Who SCIM changes are attributed to in the audit log. */
export const SCIM_ACTOR = { type: 'system' as const, id: 'scim' };

/** 412: If-Match names another version than the resource's (RFC 7644 §3.14). */
class VersionMismatch extends AppError {
  constructor() {
    super(
      412,
      'precondition_failed',
      'The resource has changed (If-Match does not match its version).',
    );
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Resource ids are UUIDs; anything else names no resource (404, not a database error). */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/** Refuses the write when If-Match is given and names none of the resource's current version. */
export function assertIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined || ifMatch.trim() === '*') return;
  const current = etagOf(version);
  const strip = (t: string) => t.trim().replace(/^W\//, '');
  const sent = ifMatch.split(',').map(strip);
  if (!sent.includes(strip(current))) throw new VersionMismatch();
}

export interface ListQuery {
  filter?: string | undefined;
  startIndex?: number | undefined;
  count?: number | undefined;
}

/** The SQL condition, values and page of a list request (startIndex is 1-based; count capped). */
export function listPlan(
  q: ListQuery,
  schema: FilterSchema,
): { where: string | undefined; params: unknown[]; offset: number; limit: number; start: number } {
  const params: unknown[] = [];
  const where = q.filter ? filterToSql(parseFilter(q.filter), schema, params) : undefined;
  const start = Math.max(1, q.startIndex ?? 1);
  const limit = Math.min(MAX_RESULTS, Math.max(0, q.count ?? 100));
  return { where, params, offset: start - 1, limit, start };
}

export interface ScimMeta extends RequestMeta {
  ifMatch?: string | undefined;
}

/** What changed for a user, for the caller to drop cached principals after the commit. */
export type OnUserChanged = (userId: string, keyIds: readonly string[]) => void;
