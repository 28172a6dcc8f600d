import { describe, expect, it } from 'vitest';
import { AppError } from './errors.js';
import { parseJsonBody, prototypeKeyPath } from './json-body.js';

const codeOf = (text: string): string | undefined => {
  try {
    parseJsonBody(text);
    return undefined;
  } catch (err) {
    return err instanceof AppError ? `${err.code}: ${err.message}` : 'not an AppError';
  }
};

describe('JSON request bodies', () => {
  it('parses ordinary JSON, including keys that merely contain "constructor"', () => {
    expect(parseJsonBody('{"a":[1,{"constructor":"x"}]}')).toEqual({
      a: [1, { constructor: 'x' }],
    });
  });
  it('names a syntax error once', () => {
    expect(codeOf('{"a":')).toBe(
      'malformed_json: Body is not valid JSON: Unexpected end of JSON input.',
    );
  });
  it('refuses prototype keys, spelled out or escaped, with their path', () => {
    expect(codeOf('{"__proto__":{}}')).toMatch(/^forbidden_property: body\.__proto__: /);
    expect(codeOf('{"a":[{"\\u005f_proto__":1}]}')).toMatch(
      /^forbidden_property: body\.a\.0\.__proto__: /,
    );
    expect(prototypeKeyPath({ x: { constructor: { prototype: {} } } })).toBe(
      'body.x.constructor.prototype',
    );
  });
  it('an empty body is a missing body', () => {
    expect(codeOf('')).toBe('invalid_input: body: a JSON body is required');
  });
});
