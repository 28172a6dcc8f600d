import { InvalidInput } from './errors.js';

/** A page position: the (timestamp, id) of the last row already returned, at full precision. */
export interface PagePosition {
  createdAt: string;
  id: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Opaque to clients so the ordering can change without breaking them. */
export function encodeCursor(p: PagePosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.id])).toString('base64url');
}

export function decodeCursor(cursor: string): PagePosition {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown;
    if (
      Array.isArray(v) &&
      typeof v[0] === 'string' &&
      !Number.isNaN(Date.parse(v[0])) &&
      typeof v[1] === 'string' &&
      UUID_RE.test(v[1])
    ) {
      return { createdAt: v[0], id: v[1] };
    }
  } catch {
    // fall through to the typed error
  }
  throw new InvalidInput('query.cursor: not a cursor returned by this API', {
    errors: [{ field: 'query.cursor', message: 'invalid cursor' }],
  });
}

/** Splits a limit+1 fetch into a page and the cursor of the next one. */
export function paginate<R extends { id: string; position: string }, V>(
  rows: R[],
  limit: number,
  view: (r: R) => V,
): { data: V[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    data: page.map(view),
    nextCursor:
      rows.length > limit && last ? encodeCursor({ createdAt: last.position, id: last.id }) : null,
  };
}
