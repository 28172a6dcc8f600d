/**
 * Content type from the bytes themselves (magic numbers and structure), never from a file name
 * or a client-supplied Content-Type.
 */

export type SourceType = 'pdf' | 'docx' | 'html' | 'markdown' | 'text';

const PK = [0x50, 0x4b, 0x03, 0x04];

function startsWith(bytes: Uint8Array, sig: readonly number[], at = 0): boolean {
  return sig.every((b, i) => bytes[at + i] === b);
}

function indexOfAscii(bytes: Uint8Array, needle: string, limit = bytes.length): number {
  const n = Buffer.from(needle, 'latin1');
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(limit, bytes.length)).indexOf(n);
}

/**
 * Decodes strict UTF-8 text, or undefined for binary content (invalid UTF-8, or more than 1%
 * NULs and control bytes). A few stray NULs are dropped: PostgreSQL text cannot hold them.
 */
export function decodeText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return undefined;
  }
  const sample = text.slice(0, 8192);
  let control = 0;
  for (let i = 0; i < sample.length; i++) {
    const c = sample.charCodeAt(i);
    if (c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12) control += 1;
  }
  if (control > sample.length / 100) return undefined;
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}

const HTML_START = /^\s*(?:<!--[\s\S]*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])/i;
const MARKDOWN_HINTS =
  /^(?:#{1,6}\s+\S|```|\s{0,3}[-*+]\s+\S.*\n\s{0,3}[-*+]\s+\S)|\[[^\]\n]+\]\([^)\s]+\)/m;

/** Detects a supported type, or undefined when the content is of an unsupported kind. */
export function detectSourceType(bytes: Uint8Array): SourceType | undefined {
  // The PDF header may be preceded by junk within the first kilobyte (ISO 32000 tolerance).
  const pdfAt = indexOfAscii(bytes, '%PDF-', 1024);
  if (pdfAt >= 0) return 'pdf';
  if (startsWith(bytes, PK)) {
    // A Word document is a ZIP whose entries include word/document.xml (names are stored in clear).
    return indexOfAscii(bytes, 'word/document.xml') >= 0 ? 'docx' : undefined;
  }
  const text = decodeText(bytes);
  if (text === undefined) return undefined;
  if (HTML_START.test(text.slice(0, 4096))) return 'html';
  if (MARKDOWN_HINTS.test(text.slice(0, 65536))) return 'markdown';
  return 'text';
}
