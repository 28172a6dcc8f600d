import { countTokens } from 'gpt-tokenizer';
import type { Block } from './extract/blocks.js';
import { at } from '../platform/checked.js';

/** A piece of a document as it is indexed: bounded in tokens, with its place in the document. */
export interface Chunk {
  ordinal: number;
  text: string;
  pageFrom: number | null;
  pageTo: number | null;
  headingPath: string[];
  tokenCount: number;
}

export interface ChunkOptions {
  maxTokens: number;
  overlapTokens: number;
}

interface Unit {
  text: string;
  tokens: number;
  page: number | undefined;
  /** Starts a paragraph (joined with a blank line rather than a space). */
  paraStart: boolean;
  heading: boolean;
}

const SENTENCE_END = /(?<=[.!?…])\s+(?=["'“‘([]?[\p{Lu}\p{N}])/u;

/** Splits text that is longer than max tokens into word runs of at most max tokens. */
function splitByWords(text: string, max: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/)) {
    const next = cur ? `${cur} ${word}` : word;
    if (cur && countTokens(next) > max) {
      out.push(cur);
      cur = word;
    } else cur = next;
  }
  if (cur) out.push(cur);
  // A single "word" beyond the limit (a long token soup) is cut by characters.
  return out.flatMap((piece) => {
    if (countTokens(piece) <= max) return [piece];
    const parts: string[] = [];
    const step = Math.max(1, max * 2);
    for (let i = 0; i < piece.length; i += step) parts.push(piece.slice(i, i + step));
    return parts;
  });
}

function unitsOf(block: Block, max: number): Unit[] {
  const units: Unit[] = [];
  const paragraphs = block.text.split(/\n{2,}/);
  for (const para of paragraphs) {
    const flat = para.replace(/\s*\n\s*/g, ' ').trim();
    if (!flat) continue;
    let first = true;
    for (const sentence of flat.split(SENTENCE_END)) {
      const tokens = countTokens(sentence);
      const pieces = tokens > max ? splitByWords(sentence, max) : [sentence];
      for (const p of pieces) {
        units.push({
          text: p,
          tokens: pieces.length === 1 ? tokens : countTokens(p),
          page: block.page,
          paraStart: first,
          heading: false,
        });
        first = false;
      }
    }
  }
  return units;
}

/**
 * Structure-aware chunking: a heading starts a new chunk and sets the heading path; paragraphs
 * are packed sentence by sentence up to maxTokens; consecutive chunks of one section share
 * about overlapTokens of trailing sentences so a fact split across a boundary is still found.
 */
export function chunkBlocks(blocks: readonly Block[], opts: ChunkOptions): Chunk[] {
  const chunks: Chunk[] = [];
  let path: string[] = [];
  let current: Unit[] = [];
  let tokens = 0;

  const emit = (carryOverlap: boolean): void => {
    if (!current.some((u) => !u.heading)) return;
    const text = current
      .map((u, i) => (i === 0 ? u.text : u.paraStart || u.heading ? `\n\n${u.text}` : ` ${u.text}`))
      .join('');
    const pages = current.map((u) => u.page).filter((p): p is number => p !== undefined);
    chunks.push({
      ordinal: chunks.length,
      text,
      pageFrom: pages.length ? Math.min(...pages) : null,
      pageTo: pages.length ? Math.max(...pages) : null,
      headingPath: [...path],
      tokenCount: tokens,
    });
    let tail: Unit[] = [];
    if (carryOverlap && opts.overlapTokens > 0) {
      let sum = 0;
      for (let i = current.length - 1; i > 0; i--) {
        const u = at(current, i);
        if (u.heading || sum + u.tokens > opts.overlapTokens) break;
        sum += u.tokens;
        tail = [u, ...tail];
      }
    }
    current = tail;
    tokens = tail.reduce((s, u) => s + u.tokens, 0);
  };

  for (const block of blocks) {
    if (block.kind === 'heading') {
      emit(false);
      // A heading with no body yet (e.g. H1 straight followed by H2) is dropped from the text
      // but kept in the path.
      current = [];
      tokens = 0;
      const level = Math.min(6, Math.max(1, block.level ?? 1));
      path = [...path.slice(0, level - 1), block.text];
      const t = countTokens(block.text);
      if (t < opts.maxTokens / 2) {
        current.push({
          text: block.text,
          tokens: t,
          page: block.page,
          paraStart: true,
          heading: true,
        });
        tokens = t;
      }
      continue;
    }
    for (const unit of unitsOf(block, opts.maxTokens)) {
      if (tokens + unit.tokens > opts.maxTokens && current.some((u) => !u.heading)) {
        emit(true);
        while (current.length > 0 && tokens + unit.tokens > opts.maxTokens) {
          tokens -= (current.shift() as Unit).tokens;
        }
      }
      current.push(unit);
      tokens += unit.tokens;
    }
  }
  emit(false);
  return chunks;
}
