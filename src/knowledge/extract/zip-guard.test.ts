import { describe, expect, it } from 'vitest';
import { docx, docxBomb, wordParagraph, zipArchive } from '../../../test/helpers/documents.js';
import { ExtractionError } from './blocks.js';
import { checkZipExpansion, docxExpansionLimit, readZipDirectory } from './zip-guard.js';

const MB = 1_000_000;

describe('checkZipExpansion', () => {
  it('passes a normal DOCX and reads its directory', async () => {
    const bytes = docx([wordParagraph('Hello.')]);
    await expect(checkZipExpansion(bytes, MB)).resolves.toBeUndefined();
    expect(readZipDirectory(bytes).map((e) => e.name)).toContain('word/document.xml');
  });

  it('refuses an archive whose parts declare more than the limit, before inflating', async () => {
    const bomb = await docxBomb(20);
    expect(bomb.length).toBeLessThan(200_000);
    await expect(checkZipExpansion(bomb, 8 * MB)).rejects.toThrow(
      /too large when expanded: its parts decompress to more than 8 MB/,
    );
  });

  it('refuses an archive that understates its sizes, by counting inflated bytes', async () => {
    const liar = await docxBomb(20, 1000);
    expect(readZipDirectory(liar).reduce((s, e) => s + e.uncompressedSize, 0)).toBeLessThan(MB);
    const err = await checkZipExpansion(liar, 8 * MB).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExtractionError);
    expect((err as Error).message).toMatch(/too large when expanded/);
    // The same archive under a limit it fits passes: the count is of real bytes.
    await expect(checkZipExpansion(liar, 32 * MB)).resolves.toBeUndefined();
  });

  it('refuses what is not a zip, and a part that points outside the archive', async () => {
    await expect(checkZipExpansion(Buffer.from('not a zip at all'), MB)).rejects.toThrow(
      /could not be read \(not a valid zip archive: no end of central directory\)/,
    );
    const archive = zipArchive([{ name: 'a.xml', data: Buffer.from('<a/>') }]);
    // The central entry (46 bytes + 5 of name) ends where the 22-byte end record starts.
    archive.writeUInt32LE(1_000_000, archive.length - 22 - 5 - 46 + 42);
    await expect(checkZipExpansion(archive, MB)).rejects.toThrow(/not a valid zip archive/);
  });

  it('ties the limit to the text limit, with a floor', () => {
    expect(docxExpansionLimit({ maxPages: 1, maxTextChars: 20_000_000 })).toBe(80_000_000);
    expect(docxExpansionLimit({ maxPages: 1, maxTextChars: 1_000 })).toBe(64_000_000);
  });
});
