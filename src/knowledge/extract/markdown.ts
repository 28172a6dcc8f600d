import { checkTextLimit, type Block, type ExtractionLimits } from './blocks.js';

const ATX = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+\s*)?$/;
const SETEXT = /^ {0,3}(=+|-+)\s*$/;
const FENCE = /^ {0,3}(```|~~~)/;

/** Strips inline markup that carries no meaning for search: links keep their text, emphasis its words. */
function inline(s: string): string {
  return s
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/`([^`]+)`/g, '$1');
}

/** Markdown as heading and paragraph blocks (ATX and setext headings; fenced code kept whole). */
export function markdownToBlocks(md: string, limits: ExtractionLimits): Block[] {
  const blocks: Block[] = [];
  let para: string[] = [];
  let fence: string | undefined;
  let total = 0;
  const push = (b: Block): void => {
    total += b.text.length;
    checkTextLimit(total, limits);
    blocks.push(b);
  };
  const flush = (code = false): void => {
    const joined = para.join('\n').trim();
    const text = code ? joined : inline(joined);
    para = [];
    if (text) push({ kind: 'paragraph', text });
  };
  for (const line of md.replace(/\r\n?/g, '\n').split('\n')) {
    if (fence !== undefined) {
      para.push(line);
      if (line.trimStart().startsWith(fence)) {
        fence = undefined;
        flush(true);
      }
      continue;
    }
    const f = FENCE.exec(line);
    if (f) {
      flush();
      fence = f[1];
      para.push(line);
      continue;
    }
    const atx = ATX.exec(line);
    if (atx) {
      flush();
      const text = inline((atx[2] ?? '').trim());
      if (text) push({ kind: 'heading', text, level: (atx[1] ?? '#').length });
      continue;
    }
    if (SETEXT.test(line) && para.length === 1) {
      const text = inline((para[0] ?? '').trim());
      para = [];
      push({ kind: 'heading', text, level: line.trim().startsWith('=') ? 1 : 2 });
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    para.push(line);
  }
  flush();
  return blocks;
}

/** Plain text as paragraph blocks separated by blank lines. */
export function textToBlocks(text: string, limits: ExtractionLimits): Block[] {
  checkTextLimit(text.length, limits);
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => ({ kind: 'paragraph' as const, text: p }));
}
