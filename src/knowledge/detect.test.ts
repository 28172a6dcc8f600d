import { describe, expect, it } from 'vitest';
import { decodeText, detectSourceType } from './detect.js';

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('detectSourceType', () => {
  it('recognises PDFs by their header, even after leading junk', () => {
    expect(detectSourceType(bytes('%PDF-1.7\n%âãÏÓ\n1 0 obj'))).toBe('pdf');
    expect(detectSourceType(bytes('\n\n  %PDF-1.4\n'))).toBe('pdf');
  });
  it('recognises DOCX as a ZIP holding word/document.xml, and refuses other ZIPs', () => {
    const zipHead = Buffer.from('504b0304', 'hex');
    expect(
      detectSourceType(
        Buffer.concat([zipHead, bytes('....[Content_Types].xml....word/document.xml')]),
      ),
    ).toBe('docx');
    expect(
      detectSourceType(Buffer.concat([zipHead, bytes('....xl/workbook.xml')])),
    ).toBeUndefined();
  });
  it('tells HTML, Markdown and text apart from their content', () => {
    expect(detectSourceType(bytes('<!DOCTYPE html><html><body>x</body></html>'))).toBe('html');
    expect(detectSourceType(bytes('<!-- c -->\n<html lang="en">'))).toBe('html');
    expect(detectSourceType(bytes('# Title\n\nSome text.'))).toBe('markdown');
    expect(detectSourceType(bytes('See [the docs](https://example.com).'))).toBe('markdown');
    expect(detectSourceType(bytes('Just a note. #hashtag, and 3 < 4.'))).toBe('text');
  });
  it('refuses binary content: images, invalid UTF-8, NUL bytes', () => {
    expect(
      detectSourceType(Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')),
    ).toBeUndefined();
    expect(detectSourceType(Buffer.from([0xff, 0xfe, 0xfd, 0x41]))).toBeUndefined();
    expect(detectSourceType(bytes('text\u0000with nul'))).toBeUndefined();
  });
  it('drops a few stray NULs from text (PostgreSQL cannot store them) but refuses NUL-heavy content', () => {
    const text = `${'A sentence of plain text. '.repeat(20)}\u0000end`;
    expect(detectSourceType(bytes(text))).toBe('text');
    expect(decodeText(bytes(text))).toBe(text.replace('\u0000', ''));
    expect(detectSourceType(Buffer.from('UTF-16 text is half NULs', 'utf16le'))).toBeUndefined();
  });
});
