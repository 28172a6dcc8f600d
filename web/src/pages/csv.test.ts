import { describe, expect, it } from 'vitest';
import { csvField, toCsv } from './csv';

describe('toCsv', () => {
  it('writes a header and rows with CRLF line ends, empty cells for null', () => {
    expect(
      toCsv(
        ['day', 'requests', 'cost_usd'],
        [
          ['2026-12-07', 3, 0.0012],
          ['2026-12-08', 0, null],
        ],
      ),
    ).toBe('day,requests,cost_usd\r\n2026-12-07,3,0.0012\r\n2026-12-08,0,\r\n');
  });

  it('quotes commas, quotes and line breaks', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
  });

  it('keeps a text cell that looks like a formula as text', () => {
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('-1')).toBe("'-1");
    expect(csvField(-1)).toBe('-1');
  });
});
