import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { chunkBlocks } from './chunk.js';
import type { Block } from './extract/blocks.js';

const sentence = (i: number): string =>
  `Sentence number ${i} talks about topic ${i % 7} in some detail.`;

describe('chunkBlocks', () => {
  it('keeps every chunk within the token bound and overlaps consecutive chunks', () => {
    const text = Array.from({ length: 60 }, (_, i) => sentence(i)).join(' ');
    const chunks = chunkBlocks([{ kind: 'paragraph', text, page: 3 }], {
      maxTokens: 60,
      overlapTokens: 15,
    });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) {
      expect(countTokens(c.text)).toBeLessThanOrEqual(60);
      expect([c.pageFrom, c.pageTo]).toEqual([3, 3]);
    }
    expect(chunks.map((c) => c.ordinal)).toEqual(chunks.map((_, i) => i));
    // The last sentence of one chunk starts the next.
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]?.text ?? '';
      const lastSentence = prev.slice(prev.lastIndexOf('Sentence number'));
      expect(chunks[i]?.text.startsWith(lastSentence)).toBe(true);
    }
    // Nothing is lost: every sentence is in some chunk.
    for (let i = 0; i < 60; i++)
      expect(chunks.some((c) => c.text.includes(sentence(i)))).toBe(true);
  });

  it('starts a new chunk at each heading and records the heading path', () => {
    const blocks: Block[] = [
      { kind: 'heading', text: 'Manual', level: 1 },
      { kind: 'heading', text: 'Setup', level: 2 },
      { kind: 'paragraph', text: 'Install it.' },
      { kind: 'heading', text: 'Usage', level: 2 },
      { kind: 'paragraph', text: 'Run it.' },
      { kind: 'heading', text: 'Appendix', level: 1 },
      { kind: 'paragraph', text: 'Notes.' },
    ];
    const chunks = chunkBlocks(blocks, { maxTokens: 100, overlapTokens: 10 });
    expect(chunks.map((c) => [c.headingPath, c.text])).toEqual([
      [['Manual', 'Setup'], 'Setup\n\nInstall it.'],
      [['Manual', 'Usage'], 'Usage\n\nRun it.'],
      [['Appendix'], 'Appendix\n\nNotes.'],
    ]);
  });

  it('records the page span of a chunk that crosses pages', () => {
    const blocks: Block[] = [
      { kind: 'paragraph', text: 'End of page one.', page: 1 },
      { kind: 'paragraph', text: 'Start of page two.', page: 2 },
    ];
    const [c] = chunkBlocks(blocks, { maxTokens: 100, overlapTokens: 0 });
    expect([c?.pageFrom, c?.pageTo, c?.text]).toEqual([
      1,
      2,
      'End of page one.\n\nStart of page two.',
    ]);
  });

  it('cuts a single overlong sentence by words', () => {
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const chunks = chunkBlocks([{ kind: 'paragraph', text: long }], {
      maxTokens: 50,
      overlapTokens: 0,
    });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(countTokens(c.text)).toBeLessThanOrEqual(50);
    expect(chunks.map((c) => c.text).join(' ')).toBe(long);
  });
});
