/** Extracted structure: what every format is reduced to before chunking. */
export interface Block {
  kind: 'heading' | 'paragraph';
  text: string;
  /** Heading level, 1-6 (headings only). */
  level?: number;
  /** 1-based page number (PDF only). */
  page?: number;
}

export interface Extracted {
  blocks: Block[];
  /** Page count for paginated formats (PDF); null otherwise. */
  pages: number | null;
}

/** Guards against decompression bombs and runaway documents. */
export interface ExtractionLimits {
  maxPages: number;
  maxTextChars: number;
}

/** A document that cannot be ingested, with a reason meant for the person who uploaded it. */
export class ExtractionError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ExtractionError';
  }
}

/** Sums block text and throws once it passes the limit. */
export function checkTextLimit(total: number, limits: ExtractionLimits): void {
  if (total > limits.maxTextChars)
    throw new ExtractionError(
      `The document's extracted text exceeds the limit of ${limits.maxTextChars} characters.`,
    );
}

/** Collapses runs of whitespace; PDFs and HTML both produce plenty. */
export function normaliseSpace(s: string): string {
  return s
    .replace(/[ \t\f\v\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .trim();
}
