import { createInflateRaw } from 'node:zlib';
import { ExtractionError, type ExtractionLimits } from './blocks.js';

/**
 * Zip-bomb guard for DOCX files, run before mammoth (whose jszip inflates a part whole, into
 * one string, however large it turns out). It reads the archive's central directory the way
 * jszip does, refuses an archive whose parts declare more than the limit, then inflates every
 * part with a byte counter and stops at the limit, so an archive that understates its sizes is
 * refused after at most `limit` bytes of output, held one zlib chunk at a time.
 */

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MB = 1_000_000;

/**
 * Bytes the parts of a DOCX may expand to: 4 bytes of XML per allowed character of text
 * (80 MB with the default INGEST_MAX_TEXT_CHARS), at least 64 MB for a low text limit.
 */
export function docxExpansionLimit(limits: ExtractionLimits): number {
  return Math.max(64 * MB, 4 * limits.maxTextChars);
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

function unreadable(why: string): ExtractionError {
  return new ExtractionError(
    `The Word document could not be read (not a valid zip archive: ${why}).`,
  );
}

function tooLarge(limit: number): ExtractionError {
  return new ExtractionError(
    `The Word document is too large when expanded: its parts decompress to more than ${Math.round(limit / MB)} MB (zip bomb?).`,
  );
}

/** Reads a little-endian field, refusing one that lies outside the archive. */
function u(buf: Buffer, offset: number, bytes: 2 | 4 | 8): number {
  if (offset < 0 || offset + bytes > buf.length) throw unreadable('a record runs past the end');
  if (bytes === 2) return buf.readUInt16LE(offset);
  if (bytes === 4) return buf.readUInt32LE(offset);
  const v = buf.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw unreadable('a 64-bit size is out of range');
  return Number(v);
}

function findEndOfDirectory(buf: Buffer): number {
  // The end record is 22 bytes plus a comment of at most 65535.
  for (let p = buf.length - 22; p >= Math.max(0, buf.length - 22 - 0xffff); p--)
    if (buf.readUInt32LE(p) === EOCD) return p;
  throw unreadable('no end of central directory');
}

/** The central directory's entries, with ZIP64 sizes and offsets resolved. */
export function readZipDirectory(buf: Buffer): ZipEntry[] {
  const eocd = findEndOfDirectory(buf);
  let count = u(buf, eocd + 10, 2);
  let offset = u(buf, eocd + 16, 4);
  if (count === 0xffff || offset === 0xffffffff) {
    const locator = eocd - 20;
    if (u(buf, locator, 4) !== ZIP64_LOCATOR) throw unreadable('missing ZIP64 locator');
    const z64 = u(buf, locator + 8, 8);
    if (u(buf, z64, 4) !== ZIP64_EOCD) throw unreadable('missing ZIP64 end record');
    count = u(buf, z64 + 32, 8);
    offset = u(buf, z64 + 48, 8);
  }
  const entries: ZipEntry[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (u(buf, p, 4) !== CENTRAL) throw unreadable('bad central directory entry');
    const nameLength = u(buf, p + 28, 2);
    const extraLength = u(buf, p + 30, 2);
    const commentLength = u(buf, p + 32, 2);
    const entry: ZipEntry = {
      name: buf.toString('utf8', p + 46, p + 46 + nameLength),
      method: u(buf, p + 10, 2),
      compressedSize: u(buf, p + 20, 4),
      uncompressedSize: u(buf, p + 24, 4),
      localOffset: u(buf, p + 42, 4),
    };
    readZip64Extra(buf, p + 46 + nameLength, extraLength, entry);
    entries.push(entry);
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Replaces 0xFFFFFFFF placeholders with the values of the ZIP64 extra field (id 1), in its order. */
function readZip64Extra(buf: Buffer, start: number, length: number, entry: ZipEntry): void {
  const needs = (['uncompressedSize', 'compressedSize', 'localOffset'] as const).filter(
    (k) => entry[k] === 0xffffffff,
  );
  if (needs.length === 0) return;
  for (let p = start; p + 4 <= start + length;) {
    const id = u(buf, p, 2);
    const size = u(buf, p + 2, 2);
    if (id === 0x0001) {
      needs.forEach((k, i) => (entry[k] = u(buf, p + 4 + 8 * i, 8)));
      return;
    }
    p += 4 + size;
  }
  throw unreadable('missing ZIP64 sizes');
}

/** Inflates one deflated part, counting output; rejects as soon as it passes `budget` bytes. */
function inflatedSize(data: Buffer, budget: number, limit: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const inflate = createInflateRaw();
    let size = 0;
    inflate.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > budget) {
        inflate.destroy();
        reject(tooLarge(limit));
      }
    });
    inflate.on('error', (err) => reject(unreadable(`a part does not inflate: ${err.message}`)));
    inflate.on('end', () => resolve(size));
    inflate.end(data);
  });
}

/** Throws ExtractionError when the archive is malformed or its parts expand past `limit` bytes. */
export async function checkZipExpansion(bytes: Uint8Array, limit: number): Promise<void> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries = readZipDirectory(buf);
  // Declared sizes first: an honest bomb is refused without inflating anything.
  const declared = entries.reduce((sum, e) => sum + e.uncompressedSize, 0);
  if (declared > limit) throw tooLarge(limit);
  let total = 0;
  for (const e of entries) {
    if (u(buf, e.localOffset, 4) !== LOCAL) throw unreadable(`bad local header of ${e.name}`);
    const start =
      e.localOffset + 30 + u(buf, e.localOffset + 26, 2) + u(buf, e.localOffset + 28, 2);
    if (start + e.compressedSize > buf.length) throw unreadable(`${e.name} runs past the end`);
    const data = buf.subarray(start, start + e.compressedSize);
    if (e.method === 0) total += data.length;
    else if (e.method === 8) total += await inflatedSize(data, limit - total, limit);
    else throw unreadable(`${e.name} uses compression method ${e.method}`);
    if (total > limit) throw tooLarge(limit);
  }
}
