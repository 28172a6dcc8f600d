import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InvalidInput } from '../platform/http/errors.js';

/**
 * JSON Schema validation (ajv, decision 009) for tool arguments and agents' output schemas.
 * Compiled validators are kept per schema text, boundedly.
 */
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();
const COMPILED_MAX = 2000;

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(schema);
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    compiled.set(key, v);
  }
  return v;
}

/** Throws InvalidInput (naming `field`) unless `schema` is a JSON Schema ajv can compile. */
export function assertJsonSchema(
  schema: Record<string, unknown>,
  field: string,
  opts: { objectType?: boolean } = {},
): void {
  if (opts.objectType && schema.type !== 'object')
    throw new InvalidInput(`${field} must be a JSON Schema of "type": "object".`, {
      errors: [{ field, message: 'type must be object' }],
    });
  try {
    validatorFor(schema);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new InvalidInput(`${field} is not a valid JSON Schema: ${message}`, {
      errors: [{ field, message }],
    });
  }
}

const describe = (e: ErrorObject): string =>
  `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`;

/** The validation errors of `value` against `schema` (empty when valid). */
export function schemaErrors(schema: Record<string, unknown>, value: unknown): string[] {
  const v = validatorFor(schema);
  return v(value) ? [] : (v.errors ?? []).map(describe);
}
