import mammoth from 'mammoth';
import type { SourceType } from '../detect.js';
import { decodeText } from '../detect.js';
import { ExtractionError, type Extracted, type ExtractionLimits } from './blocks.js';
import { htmlToBlocks } from './html.js';
import { markdownToBlocks, textToBlocks } from './markdown.js';
import { pdfToBlocks } from './pdf.js';
import { checkZipExpansion, docxExpansionLimit } from './zip-guard.js';

export { ExtractionError } from './blocks.js';
export type { Block, Extracted, ExtractionLimits } from './blocks.js';

function text(bytes: Uint8Array): string {
  const t = decodeText(bytes);
  if (t === undefined) throw new ExtractionError('The document is not valid UTF-8 text.');
  return t;
}

/** Extracts structured text from a document of a detected type; throws ExtractionError with a user-facing reason. */
export async function extractBlocks(
  type: SourceType,
  bytes: Uint8Array,
  limits: ExtractionLimits,
): Promise<Extracted> {
  // Accepted at upload (like any unreadable file, it fails on its own document), but named
  // plainly rather than as "contains no text".
  if (bytes.byteLength === 0) throw new ExtractionError('The file is empty (0 bytes).');
  switch (type) {
    case 'pdf':
      return pdfToBlocks(bytes, limits);
    case 'docx': {
      await checkZipExpansion(bytes, docxExpansionLimit(limits));
      let html: string;
      try {
        // Word structure (headings, lists, tables) survives as HTML, which the HTML path reads.
        // Images are never read: the HTML path drops them, and mammoth would otherwise inline
        // each one as a base64 data URI.
        html = (
          await mammoth.convertToHtml(
            { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
            { convertImage: mammoth.images.imgElement(() => Promise.resolve({ src: '' })) },
          )
        ).value;
      } catch (err) {
        throw new ExtractionError(
          `The Word document could not be read (${err instanceof Error ? err.message : String(err)}).`,
        );
      }
      return { blocks: htmlToBlocks(html, limits), pages: null };
    }
    case 'html':
      return { blocks: htmlToBlocks(text(bytes), limits), pages: null };
    case 'markdown':
      return { blocks: markdownToBlocks(text(bytes), limits), pages: null };
    case 'text':
      return { blocks: textToBlocks(text(bytes), limits), pages: null };
  }
}
