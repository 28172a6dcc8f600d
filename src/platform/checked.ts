/**
 * Checked access where the code's own logic says a value exists: an index it just computed, the
 * row an INSERT … RETURNING must return. A miss is a bug, not bad input, so it throws
 * MissingValue (an opaque 500 with the stack in the log) instead of letting `undefined` flow on
 * under a cast.
 */
export class MissingValue extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingValue';
  }
}

/** xs[i], or MissingValue when i is outside the array. */
export function at<T>(xs: ArrayLike<T>, i: number): T {
  if (!Number.isInteger(i) || i < 0 || i >= xs.length)
    throw new MissingValue(`index ${i} is outside an array of ${xs.length}`);
  // eslint-disable-next-line no-restricted-syntax -- the bounds check above is the check.
  return xs[i] as T;
}

/** The first row of a result that must have one (INSERT … RETURNING, an aggregate), or MissingValue. */
export function one<R>(rows: readonly R[], what = 'row'): R {
  if (rows.length === 0) throw new MissingValue(`expected a ${what}, the query returned none`);
  return at(rows, 0);
}

/** The message of anything thrown: an Error's message, or the value as text. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** v, or MissingValue when it is undefined (a slot a parallel array guarantees is filled). */
export function defined<T>(v: T | undefined, what = 'value'): T {
  if (v === undefined) throw new MissingValue(`expected a ${what}, found none`);
  return v;
}
