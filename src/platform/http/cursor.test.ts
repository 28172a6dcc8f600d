import { describe, expect, it } from 'vitest';
import { InvalidInput } from './errors.js';
import { decodeCursor, encodeCursor, paginate } from './cursor.js';

const id = '0b7c6a3e-2f1d-4c8e-9a6b-5d4e3f2a1b0c';
const createdAt = '2026-01-02T03:04:05.123456+00:00';
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('page cursor', () => {
  it('round-trips the position at full precision', () => {
    expect(decodeCursor(encodeCursor({ createdAt, id }))).toEqual({ createdAt, id });
  });

  it.each([
    ['not base64 JSON', 'not a cursor'],
    ['a bad timestamp', b64(['yesterday', id])],
    ['an id that only looks like a UUID by length', b64([createdAt, '-'.repeat(36)])],
    ['an upper-case id', b64([createdAt, id.toUpperCase()])],
    ['a missing id', b64([createdAt])],
  ])('rejects %s with a typed error naming the field', (_name, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(InvalidInput);
    try {
      decodeCursor(cursor);
    } catch (err) {
      expect(err).toMatchObject({ extra: { errors: [{ field: 'query.cursor' }] } });
    }
  });

  it('splits a limit+1 fetch into a page and the next cursor', () => {
    const rows = [1, 2, 3].map((n) => ({ id: `${id.slice(0, -1)}${n}`, position: createdAt }));
    const full = paginate(rows, 2, (r) => r.id);
    expect(full.data).toEqual([rows[0]?.id, rows[1]?.id]);
    expect(full.nextCursor && decodeCursor(full.nextCursor)).toEqual({
      createdAt,
      id: rows[1]?.id,
    });
    expect(paginate(rows, 3, (r) => r.id).nextCursor).toBeNull();
  });
});
