import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pdfToBlocks } from './pdf.js';

describe('loading pdf.js', () => {
  it('leaves the native JSON.parse and JSON.stringify in place', async () => {
    const { parse, stringify } = JSON;
    const bytes = readFileSync(
      new URL('../../../test/fixtures/pdfs/scotus-transcript-p1.pdf', import.meta.url),
    );
    const out = await pdfToBlocks(bytes, { maxPages: 50, maxTextChars: 1_000_000 });
    expect(out.blocks.length).toBeGreaterThan(0);
    expect(JSON.parse).toBe(parse);
    expect(JSON.stringify).toBe(stringify);
    expect(String(JSON.stringify)).toContain('[native code]');
  });
});
