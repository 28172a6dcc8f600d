import { createHash } from 'node:crypto';

/**
 * A plain POSIX ustar writer for export archives: regular files only, names up to 100 bytes,
 * everything in memory (an archive is built once by the export job and stored whole). Any tar
 * reads it (`tar -xf`); a dependency would add nothing for this one shape.
 */
export interface TarEntry {
  name: string;
  content: Buffer;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100) throw new Error(`tar entry name longer than 100 bytes: ${name}`);
  nameBytes.copy(h, 0);
  h.write('0000644\0', 100, 'ascii'); // mode
  h.write('0000000\0', 108, 'ascii'); // uid
  h.write('0000000\0', 116, 'ascii'); // gid
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  h.write(`${mtime.toString(8).padStart(11, '0')}\0`, 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder: eight spaces while summing
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The archive: each entry's header and content padded to 512 bytes, then two zero blocks. */
export function writeTar(entries: readonly TarEntry[], mtime = new Date()): Buffer {
  const seconds = Math.floor(mtime.getTime() / 1000);
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e.name, e.content.length, seconds), e.content);
    const pad = (512 - (e.content.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

/** The entries of an archive writeTar made (tests and `rampart` tooling read archives back). */
export function readTar(archive: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let at = 0;
  while (at + 512 <= archive.length) {
    const h = archive.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    out.push({ name, content: Buffer.from(archive.subarray(at + 512, at + 512 + size)) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
