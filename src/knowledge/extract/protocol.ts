import { z } from 'zod';
import type { SourceType } from '../detect.js';
import type { ExtractionLimits } from './blocks.js';

/** Messages between ExtractionPool and its processes (structured-cloned over IPC, so checked on arrival). */
export const ExtractionRequest = z.object({
  type: z.enum(['pdf', 'docx', 'html', 'markdown', 'text']),
  bytes: z.instanceof(Uint8Array),
  limits: z.object({ maxPages: z.number().int(), maxTextChars: z.number().int() }),
});
/** What the pool sends; any Uint8Array arrives in the process as a plain one. */
export interface ExtractionRequest {
  type: SourceType;
  bytes: Uint8Array;
  limits: ExtractionLimits;
}

const Block = z.object({
  kind: z.enum(['heading', 'paragraph']),
  text: z.string(),
  level: z.number().int().optional(),
  page: z.number().int().optional(),
});

export const ExtractionReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    extracted: z.object({ blocks: z.array(Block), pages: z.number().int().nullable() }),
  }),
  // `unreadable`: the document itself is at fault (an ExtractionError); otherwise a defect.
  z.object({ ok: z.literal(false), unreadable: z.boolean(), reason: z.string() }),
]);
export type ExtractionReply = z.infer<typeof ExtractionReply>;
