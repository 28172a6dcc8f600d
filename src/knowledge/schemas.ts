import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';

const GroupName = safeString().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'invalid group name');
const Tag = safeString().min(1).max(64);

/** A list given as a JSON array, or (in multipart forms) as a comma-separated or repeated field. */
const listOf = (item: z.ZodString) =>
  z
    .union([z.array(safeString()), safeString()])
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(item).max(50));

/**
 * JSON `{ title, text | markdown | html, tags?, groups? }`, or a multipart form with a `file`
 * part (its bytes, type detected from content) and optional `title`, `tags`, `groups` fields.
 */
export const CreateDocumentBody = z
  .object({
    title: safeString().trim().min(1).max(500).optional(),
    text: safeString().optional(),
    markdown: safeString().optional(),
    html: safeString().optional(),
    file: z
      .custom<Buffer>((v) => Buffer.isBuffer(v), 'expected an uploaded file')
      .optional()
      .meta({ description: 'multipart/form-data only: the document file' }),
    tags: listOf(Tag).optional(),
    groups: listOf(GroupName).optional(),
  })
  .refine((b) => [b.text, b.markdown, b.html, b.file].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of text, markdown, html or (multipart) file',
  })
  .refine((b) => b.file !== undefined || b.title !== undefined, {
    message: 'title is required',
    path: ['title'],
  });
export type CreateDocumentBody = z.infer<typeof CreateDocumentBody>;

const formList = (what: string) =>
  z
    .string()
    .optional()
    .meta({
      description: `${what}: comma-separated, or the field repeated (one value each).`,
    });

/**
 * The multipart/form-data upload of POST /v1/documents as the OpenAPI document shows it. The
 * form is validated with CreateDocumentBody once uploads.ts has turned it into fields.
 */
export const CreateDocumentForm = z.object({
  file: z.string().meta({
    format: 'binary',
    contentMediaType: 'application/octet-stream',
    description:
      'The document (PDF, DOCX, HTML, Markdown or text); its type is detected from the bytes.',
  }),
  title: z.string().max(500).optional().meta({ description: 'Defaults to the file name.' }),
  tags: formList('Tags'),
  groups: formList('Groups that may read the document (none: the whole tenant)'),
});

export const DocumentAccepted = z.object({
  id: z.string(),
  status: z.enum(['queued', 'processing', 'ready', 'failed']),
  duplicate: z.boolean(),
});

export const DocumentSchema = z.object({
  id: z.string(),
  title: z.string(),
  sourceType: z.enum(['pdf', 'docx', 'html', 'markdown', 'text']),
  status: z.enum(['queued', 'processing', 'ready', 'failed']),
  failureReason: z.string().nullable(),
  pageCount: z.number().nullable(),
  chunkCount: z.number(),
  contentHash: z.string(),
  bytes: z.number(),
  tags: z.array(z.string()),
  groups: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DocumentView = z.infer<typeof DocumentSchema>;

export const ChunkSchema = z.object({
  id: z.string(),
  ordinal: z.number(),
  text: z.string(),
  pageFrom: z.number().nullable(),
  pageTo: z.number().nullable(),
  headingPath: z.array(z.string()),
  tokenCount: z.number(),
});

export const DocumentListQuery = z.object({
  status: z.enum(['queued', 'processing', 'ready', 'failed']).optional(),
  tag: Tag.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: safeString().max(200).optional(),
});

export const DocumentIdParams = z.object({ id: z.uuid() });
