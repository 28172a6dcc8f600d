import { describe, expect, it } from 'vitest';
import { ExtractionError } from './blocks.js';
import { htmlToBlocks } from './html.js';
import { markdownToBlocks, textToBlocks } from './markdown.js';

const limits = { maxPages: 10, maxTextChars: 10_000 };

describe('htmlToBlocks', () => {
  it('keeps headings and paragraphs, drops scripts, styles and navigation, decodes entities', () => {
    const html = `<html><head><title>x</title><script>var a = 1;</script></head><body>
      <nav><a href="/">Home</a></nav><h2>Terms &amp; conditions</h2><p>Pay within <em>14</em> days.</p>
      <style>p{}</style><ul><li>One</li><li>Two</li></ul></body></html>`;
    expect(htmlToBlocks(html, limits)).toEqual([
      { kind: 'heading', text: 'Terms & conditions', level: 2 },
      { kind: 'paragraph', text: 'Pay within 14 days.' },
      { kind: 'paragraph', text: 'One' },
      { kind: 'paragraph', text: 'Two' },
    ]);
  });
  it('keeps only the main content when the page marks it', () => {
    const html =
      '<body><header>Site name</header><main><p>The article.</p></main><aside>Ads</aside></body>';
    expect(htmlToBlocks(html, limits).map((b) => b.text)).toEqual(['The article.']);
  });
  it('stops at the text limit', () => {
    expect(() => htmlToBlocks(`<p>${'x'.repeat(20_000)}</p>`, limits)).toThrow(ExtractionError);
  });
});

describe('markdownToBlocks', () => {
  it('reads ATX and setext headings, paragraphs and fenced code, and strips link markup', () => {
    const md =
      'Title\n=====\n\nSee [docs](http://x).\n\n## Part `two`\n\n```\n# not a heading\n```\n';
    expect(markdownToBlocks(md, limits)).toEqual([
      { kind: 'heading', text: 'Title', level: 1 },
      { kind: 'paragraph', text: 'See docs.' },
      { kind: 'heading', text: 'Part two', level: 2 },
      { kind: 'paragraph', text: '```\n# not a heading\n```' },
    ]);
  });
});

describe('textToBlocks', () => {
  it('splits paragraphs on blank lines', () => {
    expect(textToBlocks('a\nb\n\n\nc\r\n\r\nd', limits).map((b) => b.text)).toEqual([
      'a\nb',
      'c',
      'd',
    ]);
  });
});
