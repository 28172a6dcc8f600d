import type { FastifyInstance } from 'fastify';
import { AppError, InvalidInput } from './errors.js';

/**
 * Where a parsed JSON value holds a key that could pollute an object prototype when merged:
 * `__proto__`, or `constructor` holding an object with a `prototype` (the two rules of
 * Fastify's onProtoPoisoning / onConstructorPoisoning). Iterative, for deep bodies.
 */
export function prototypeKeyPath(root: unknown): string | undefined {
  const stack: [unknown, string][] = [[root, 'body']];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, path] = next;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}.${i}`]);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        if (key === '__proto__') return `${path}.__proto__`;
        if (
          key === 'constructor' &&
          item !== null &&
          typeof item === 'object' &&
          Object.hasOwn(item, 'prototype')
        )
          return `${path}.constructor.prototype`;
        stack.push([item, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

/** Parses a JSON request body; every way it can be wrong is a 400 that says which. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new InvalidInput('body: a JSON body is required');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AppError(400, 'malformed_json', `Body is not valid JSON: ${reason}.`);
  }
  // The key can only appear spelled out or with a \u escape; most bodies skip the walk.
  if (text.includes('__proto__') || text.includes('constructor') || text.includes('\\u')) {
    const path = prototypeKeyPath(value);
    if (path)
      throw new AppError(
        400,
        'forbidden_property',
        `${path}: this key is not accepted (it could alter object prototypes); remove or rename it.`,
        { errors: [{ field: path, message: 'forbidden key' }] },
      );
  }
  return value;
}

/**
 * Replaces Fastify's JSON parser, which reports a syntax error and a `__proto__` key with the
 * same generic error: here each gets its own message and code (malformed_json,
 * forbidden_property). The route's body limit still applies before parsing.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  // SCIM clients (Okta, Entra ID) send application/scim+json (RFC 7644 §3.1): the same JSON.
  for (const type of ['application/json', 'application/scim+json'])
    app.addContentTypeParser(type, { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseJsonBody(String(body)));
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)), undefined);
      }
    });
}
