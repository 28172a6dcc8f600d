import { Parser } from 'htmlparser2';
import { checkTextLimit, normaliseSpace, type Block, type ExtractionLimits } from './blocks.js';

// Elements whose content is never document text.
const SKIP = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'svg',
  'math',
  'head',
  'iframe',
  'object',
  'canvas',
  'nav',
  'form',
  'button',
  'select',
  'textarea',
]);
// Elements that end a paragraph.
const BLOCK = new Set([
  'p',
  'div',
  'section',
  'article',
  'main',
  'aside',
  'header',
  'footer',
  'li',
  'ul',
  'ol',
  'table',
  'tr',
  'td',
  'th',
  'blockquote',
  'pre',
  'br',
  'hr',
  'dd',
  'dt',
  'dl',
  'figure',
  'figcaption',
  'caption',
  'address',
  'body',
  'html',
]);
const HEADING = /^h([1-6])$/;
// Chrome around the main text, dropped when the page marks its main content.
const CHROME = new Set(['header', 'footer', 'aside']);

/**
 * The main text of an HTML document as heading and paragraph blocks: scripts, styles and
 * navigation are dropped; when the page has <main> or <article>, only that content is kept.
 */
export function htmlToBlocks(html: string, limits: ExtractionLimits): Block[] {
  const all: { block: Block; inMain: boolean }[] = [];
  let skipDepth = 0;
  let mainDepth = 0;
  let chromeDepth = 0;
  let buf = '';
  let heading: number | undefined;
  let total = 0;

  const flush = (): void => {
    const text = normaliseSpace(buf).replace(/\n+/g, ' ');
    buf = '';
    if (!text) return;
    total += text.length;
    checkTextLimit(total, limits);
    const block: Block =
      heading !== undefined
        ? { kind: 'heading', text, level: heading }
        : { kind: 'paragraph', text };
    all.push({ block, inMain: mainDepth > 0 && chromeDepth === 0 });
  };

  const parser = new Parser(
    {
      onopentag(name) {
        if (SKIP.has(name)) {
          skipDepth += 1;
          return;
        }
        if (skipDepth > 0) return;
        const h = HEADING.exec(name);
        if (h || BLOCK.has(name)) flush();
        if (h) heading = Number(h[1]);
        if (name === 'main' || name === 'article') mainDepth += 1;
        if (CHROME.has(name)) chromeDepth += 1;
      },
      ontext(text) {
        if (skipDepth === 0) buf += text;
      },
      onclosetag(name, implied) {
        if (SKIP.has(name)) {
          skipDepth = Math.max(0, skipDepth - 1);
          return;
        }
        if (skipDepth > 0) return;
        if (HEADING.test(name) || BLOCK.has(name)) {
          flush();
          if (HEADING.test(name)) heading = undefined;
        }
        if (name === 'main' || name === 'article') mainDepth = Math.max(0, mainDepth - 1);
        if (CHROME.has(name)) chromeDepth = Math.max(0, chromeDepth - 1);
        void implied;
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  flush();
  const main = all.filter((b) => b.inMain);
  return (main.length > 0 ? main : all).map((b) => b.block);
}
