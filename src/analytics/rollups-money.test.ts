import { describe, expect, it } from 'vitest';
import { addDecimals, usdToMicros } from './rollups-money.js';

describe('usdToMicros', () => {
  it('rounds half away from zero at the sixth decimal, exactly', () => {
    expect(usdToMicros('0.0000000000')).toBe(0n);
    expect(usdToMicros('12.0000004999')).toBe(12_000_000n);
    expect(usdToMicros('12.0000005000')).toBe(12_000_001n);
    expect(usdToMicros('0.1234565')).toBe(123_457n);
    expect(usdToMicros('-0.0000015')).toBe(-2n);
    expect(usdToMicros('90071992547.409931')).toBe(90_071_992_547_409_931n);
    expect(usdToMicros('3')).toBe(3_000_000n);
  });
  it('refuses what is not a decimal', () => {
    expect(() => usdToMicros('1e3')).toThrow(RangeError);
  });
});

describe('addDecimals', () => {
  it('adds 10-place decimals exactly (where floats would not)', () => {
    expect(addDecimals(['0.1000000000', '0.2000000000'])).toBe('0.3000000000');
    expect(addDecimals([])).toBe('0.0000000000');
    expect(addDecimals(['12345678901234.0000000001', '-0.0000000002'])).toBe(
      '12345678901233.9999999999',
    );
  });
});
