import { z } from 'zod';
import { InvalidInput } from './errors.js';

/**
 * Characters a PostgreSQL `text` value cannot hold: NUL, and a UTF-16 surrogate without its
 * pair (it has no UTF-8 encoding). With the `u` flag a proper pair is one code point, so the
 * class matches lone surrogates only. Either one reaching a query is a 500 from the driver.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this must find
const UNSTORABLE = /[\u0000\uD800-\uDFFF]/u;

/** Why a string cannot be stored, or undefined when it can. */
export function unstorableReason(s: string): string | undefined {
  const found = UNSTORABLE.exec(s);
  if (!found) return undefined;
  return found[0] === '\u0000'
    ? 'must not contain NUL characters (\\u0000)'
    : 'must not contain unpaired UTF-16 surrogates (not valid UTF-8)';
}

/**
 * Text made storable: NULs dropped, lone surrogates replaced by U+FFFD. For text the server
 * derives from bytes (extracted documents), where refusing is not the caller's to fix.
 */
export function toStorableText(s: string): string {
  if (!UNSTORABLE.test(s)) return s;
  // eslint-disable-next-line no-control-regex -- as UNSTORABLE, global
  return s.replace(/[\u0000\uD800-\uDFFF]/gu, (c) => (c === '\u0000' ? '' : '\uFFFD'));
}

/** The string schema for request input: any string PostgreSQL text can store. Use instead of z.string(). */
export function safeString(): z.ZodString {
  return z.string().superRefine((s, ctx) => {
    const reason = unstorableReason(s);
    if (reason) ctx.addIssue({ code: 'custom', message: reason });
  });
}

/**
 * Finds the first string (or object key) in parsed request input that PostgreSQL cannot store,
 * with its path as clients write it (`body.messages.0.content`). Iterative: a deeply nested
 * body must not overflow the stack. Buffers (uploaded files) are bytes, checked on extraction.
 */
export function findUnstorable(
  root: unknown,
  where: string,
): { field: string; message: string } | undefined {
  const stack: [unknown, string][] = [[root, where]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      const message = unstorableReason(value);
      if (message) return { field: path, message };
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}.${i}`]);
    } else if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
      for (const [key, item] of Object.entries(value)) {
        const message = unstorableReason(key);
        if (message) return { field: path, message: `a key ${message}` };
        stack.push([item, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

/**
 * The safety net under the route schemas: refuses a request whose params, query or body hold a
 * string PostgreSQL cannot store, so a route whose schema forgot safeString() still answers
 * 400 rather than failing in the database. Runs before schema validation.
 */
export function rejectUnstorableInput(request: {
  params: unknown;
  query: unknown;
  body: unknown;
}): void {
  const found =
    findUnstorable(request.params, 'params') ??
    findUnstorable(request.query, 'query') ??
    findUnstorable(request.body, 'body');
  if (found) throw new InvalidInput(`${found.field}: ${found.message}`, { errors: [found] });
}
