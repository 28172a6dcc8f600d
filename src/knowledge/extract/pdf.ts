import type * as PdfJsModule from 'pdfjs-dist/legacy/build/pdf.mjs';
import {
  ExtractionError,
  checkTextLimit,
  normaliseSpace,
  type Block,
  type Extracted,
  type ExtractionLimits,
} from './blocks.js';

interface TextPiece {
  str?: string;
  hasEOL?: boolean;
}

function reasonFor(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  const msg = err instanceof Error ? err.message : String(err);
  if (name === 'PasswordException')
    return 'PDF is encrypted (password-protected); upload a copy without a password.';
  if (name === 'InvalidPDFException') return `The file is not a readable PDF (${msg}).`;
  return `The PDF could not be read (${msg}).`;
}

type PdfJs = typeof PdfJsModule;
let pdfjs: Promise<PdfJs> | undefined;

/**
 * Loads pdf.js on first use, keeping the native JSON. Its legacy build bundles core-js polyfills
 * that replace JSON.parse and JSON.stringify process-wide (for JSON.rawJSON, which Node 20
 * lacks), and the replacements are several times slower: every request the server parses and
 * every log line it writes would pay for them. pdf.js itself does not need the polyfilled parts.
 */
const NATIVE_JSON = { parse: JSON.parse, stringify: JSON.stringify };

/** Puts the native JSON back (pdf.js's worker module is loaded lazily, on the first document). */
function restoreNativeJson(): void {
  if (JSON.parse !== NATIVE_JSON.parse) JSON.parse = NATIVE_JSON.parse;
  if (JSON.stringify !== NATIVE_JSON.stringify) JSON.stringify = NATIVE_JSON.stringify;
}

function loadPdfJs(): Promise<PdfJs> {
  return (pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs').finally(restoreNativeJson));
}

/** Text of a PDF, one paragraph block per page with its page number. */
export async function pdfToBlocks(bytes: Uint8Array, limits: ExtractionLimits): Promise<Extracted> {
  try {
    return await extractPdf(bytes, limits);
  } finally {
    restoreNativeJson();
  }
}

async function extractPdf(bytes: Uint8Array, limits: ExtractionLimits): Promise<Extracted> {
  const { getDocument } = await loadPdfJs();
  // pdf.js takes ownership of (detaches) the buffer it is given: hand it a copy.
  const task = getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: 0,
  });
  let doc;
  try {
    doc = await task.promise;
  } catch (err) {
    await task.destroy().catch(() => undefined);
    throw new ExtractionError(reasonFor(err));
  }
  try {
    if (doc.numPages > limits.maxPages)
      throw new ExtractionError(
        `The PDF has ${doc.numPages} pages; the limit is ${limits.maxPages}.`,
      );
    const blocks: Block[] = [];
    let total = 0;
    let letters = 0;
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      let raw = '';
      for (const item of content.items as TextPiece[]) {
        raw += item.str ?? '';
        if (item.hasEOL) raw += '\n';
      }
      page.cleanup();
      // Re-join words hyphenated across line ends.
      const text = normaliseSpace(raw.replace(/(\p{L})-\n(\p{Ll})/gu, '$1$2'));
      if (!text) continue;
      total += text.length;
      checkTextLimit(total, limits);
      letters += (text.match(/\p{L}/gu) ?? []).length;
      blocks.push({ kind: 'paragraph', text, page: n });
    }
    if (letters < 3)
      throw new ExtractionError(
        'No text could be extracted from the PDF (it may be a scanned image; OCR is not supported).',
      );
    return { blocks, pages: doc.numPages };
  } catch (err) {
    if (err instanceof ExtractionError) throw err;
    throw new ExtractionError(reasonFor(err));
  } finally {
    await doc.destroy().catch(() => undefined);
  }
}
