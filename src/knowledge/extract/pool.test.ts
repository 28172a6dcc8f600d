import { afterEach, describe, expect, it } from 'vitest';
import { docx, docxBomb, pdf, wordParagraph } from '../../../test/helpers/documents.js';
import { ExtractionError } from './blocks.js';
import { extractBlocks } from './index.js';
import { ExtractionPool } from './pool.js';

const limits = { maxPages: 50, maxTextChars: 1_000_000 };
const pools: ExtractionPool[] = [];
const pool = (opts: Partial<ConstructorParameters<typeof ExtractionPool>[0]> = {}) => {
  const p = new ExtractionPool({ processes: 1, maxHeapMb: 256, timeoutMs: 60_000, ...opts });
  pools.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('ExtractionPool', () => {
  it('extracts DOCX, PDF and HTML in a child process exactly as in-process extraction does', async () => {
    const p = pool();
    const samples = [
      {
        type: 'docx' as const,
        bytes: docx([
          wordParagraph('Refund policy', 'Heading1'),
          wordParagraph('Refunds are paid within 30 days.'),
          wordParagraph('Exceptions', 'Heading2'),
          wordParagraph('Gift cards are final.'),
        ]),
      },
      { type: 'pdf' as const, bytes: pdf(['Page one talks about apples.', 'Page two: pears.']) },
      { type: 'html' as const, bytes: Buffer.from('<h1>T</h1><p>Body &amp; text.</p>') },
    ];
    for (const { type, bytes } of samples) {
      const inThread = await p.extract(type, bytes, limits);
      expect(inThread).toEqual(await extractBlocks(type, bytes, limits));
      expect(inThread.blocks.length).toBeGreaterThan(1);
    }
    expect(inThreadHeadings(await p.extract('docx', samples[0]!.bytes, limits))).toEqual([
      'Refund policy',
      'Exceptions',
    ]);
    expect(p.processes).toBe(1); // one process, reused
  });

  it('fails a zip bomb with a clear reason and kills the process that read it', async () => {
    const p = pool();
    const err = await p.extract('docx', await docxBomb(100), limits).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExtractionError);
    expect((err as Error).message).toMatch(/^The Word document is too large when expanded/);
    expect(p.processes).toBe(0);
  });

  it('fails a document that exhausts the process heap, then serves the next one with a new process', async () => {
    const p = pool({ maxHeapMb: 64 });
    // Past the zip guard (a text limit this high allows 4 GB of XML), so only the heap stops it.
    const big = await docxBomb(150);
    const err = await p
      .extract('docx', big, { maxPages: 1, maxTextChars: 1_000_000_000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExtractionError);
    expect((err as Error).message).toBe(
      'The document is too large when expanded: extracting it needs more than 64 MB of memory.',
    );
    expect(p.processes).toBe(0);
    const ok = await p.extract('text', Buffer.from('still works'), limits);
    expect(ok.blocks.map((b) => b.text)).toEqual(['still works']);
  });

  it('fails an extraction that overruns the timeout and kills its process', async () => {
    const p = pool({ timeoutMs: 1 });
    const err = await p
      .extract('pdf', pdf(['Slow enough for one millisecond.']), limits)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExtractionError);
    expect((err as Error).message).toBe(
      'Extraction timed out after 0.001 s: the document is too large or too complex.',
    );
    expect(p.processes).toBe(0);
  });

  it('queues documents beyond the process count instead of starting more processes', async () => {
    const p = pool({ processes: 1 });
    const docs = ['one', 'two', 'three'].map((w) => p.extract('text', Buffer.from(w), limits));
    expect(p.processes).toBe(1);
    expect((await Promise.all(docs)).map((d) => d.blocks[0]?.text)).toEqual([
      'one',
      'two',
      'three',
    ]);
  });
});

function inThreadHeadings(e: { blocks: { kind: string; text: string }[] }): string[] {
  return e.blocks.filter((b) => b.kind === 'heading').map((b) => b.text);
}
