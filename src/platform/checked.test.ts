import { describe, expect, it } from 'vitest';
import { MissingValue, at, defined, messageOf, one } from './checked.js';

describe('checked access', () => {
  it('at() returns the element, including a stored undefined, and throws outside the array', () => {
    expect(at(['a', 'b'], 1)).toBe('b');
    expect(at([undefined, 1], 0)).toBeUndefined();
    expect(() => at(['a'], 1)).toThrow(MissingValue);
    expect(() => at(['a'], -1)).toThrow(MissingValue);
    expect(() => at(['a'], 0.5)).toThrow(MissingValue);
  });

  it('one() returns the first row and throws a MissingValue naming what was expected', () => {
    expect(one([{ id: 1 }, { id: 2 }])).toEqual({ id: 1 });
    expect(() => one([], 'api key row')).toThrow(
      new MissingValue('expected a api key row, the query returned none'),
    );
  });

  it('defined() passes a value through (null and 0 included) and throws on undefined', () => {
    expect(defined(0)).toBe(0);
    expect(defined(null)).toBeNull();
    expect(() => defined(undefined, 'gauge lease')).toThrow('expected a gauge lease, found none');
  });

  it('messageOf() reads an Error or anything else thrown', () => {
    expect(messageOf(new TypeError('boom'))).toBe('boom');
    expect(messageOf('plain')).toBe('plain');
    expect(messageOf(42)).toBe('42');
  });
});
