import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, InvalidInput, PayloadTooLarge } from '../platform/http/errors.js';
import { unstorableReason } from '../platform/http/safe-string.js';

const filenames = new WeakMap<FastifyRequest, string>();

/** The longest title a document may have (CreateDocumentBody and the documents table agree). */
const MAX_TITLE = 500;
const MAX_FIELD_BYTES = 65_536;
const MAX_FIELDS = 10;

/**
 * Accepts multipart/form-data uploads: fields become body properties and the single file part
 * a Buffer, so the route validates one body schema for JSON and forms alike. The file is
 * bounded by the document size limit while it streams in (413 beyond it). The form is read
 * here rather than by the plugin's attachFieldsToBody so that every way a form can be wrong
 * (truncated, two files, too many fields) becomes one of our codes, documented in
 * docs/knowledge.md, instead of a framework code or a silently missing part.
 */
export async function registerUploads(app: FastifyInstance, maxBytes: number): Promise<void> {
  await app.register(multipart, {
    limits: {
      fileSize: maxBytes,
      files: 1,
      fields: MAX_FIELDS,
      fieldSize: MAX_FIELD_BYTES,
      parts: MAX_FIELDS + 1,
    },
  });
  app.addHook('preValidation', async (request) => {
    if (!request.isMultipart()) return;
    request.body = await readForm(request, maxBytes);
  });
}

async function readForm(request: FastifyRequest, maxBytes: number): Promise<unknown> {
  const body: Record<string, unknown> = {};
  const add = (name: string, value: unknown) => {
    const prior = body[name];
    body[name] =
      prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  };
  let filename: string | undefined;
  try {
    const parts = request.parts();
    const complete = watchForClosingDelimiter(request);
    for await (const part of parts) {
      if (part.type === 'file') {
        add(part.fieldname, await part.toBuffer());
        filename = part.filename;
      } else {
        if (part.valueTruncated)
          throw new PayloadTooLarge(
            `body.${part.fieldname}: a form field holds at most ${MAX_FIELD_BYTES} bytes.`,
          );
        add(part.fieldname, part.value);
      }
    }
    if (!complete())
      throw new AppError(
        400,
        'malformed_multipart',
        'The multipart body is truncated: it ends before its closing boundary.',
      );
  } catch (err) {
    throw multipartError(err, maxBytes);
  }
  if (filename !== undefined && body.title === undefined) {
    checkFilenameAsTitle(filename);
    if (filename.trim()) filenames.set(request, filename.trim());
  }
  return body;
}

/**
 * Whether the body carried its closing delimiter (`--boundary--`). The parser ends a body cut
 * short (inside a part's headers, say) without an error, as if the form were complete; a
 * client must hear that its upload arrived broken. Call right after request.parts(): the
 * listener joins the pipe the parser set up in the same tick, so it sees every chunk.
 */
function watchForClosingDelimiter(request: FastifyRequest): () => boolean {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(request.headers['content-type'] ?? '');
  const delimiter = Buffer.from(`--${boundary?.[1] ?? boundary?.[2] ?? ''}--`, 'latin1');
  let seen = false;
  let tail = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    if (seen) return;
    // The previous chunk's last bytes join this one's first, so a delimiter split across
    // chunks is found without copying whole chunks.
    const seam = Buffer.concat([tail, chunk.subarray(0, delimiter.length - 1)]);
    seen = seam.includes(delimiter) || chunk.includes(delimiter);
    tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - delimiter.length + 1)));
  };
  request.raw.on('data', onData);
  return () => {
    request.raw.off('data', onData);
    return seen;
  };
}

/** A file name is the default title: it must make a valid one, or the client must send a title. */
function checkFilenameAsTitle(filename: string): void {
  const problem =
    unstorableReason(filename) ??
    (filename.trim().length > MAX_TITLE
      ? `the file name is ${filename.trim().length} characters long and a document title at most ${MAX_TITLE}`
      : undefined);
  if (problem)
    throw new InvalidInput(`body.file: ${problem}; send a title field or rename the file.`, {
      errors: [{ field: 'body.file', message: problem }],
    });
}

const FORM_ERRORS: Record<string, (maxBytes: number) => AppError> = {
  FST_REQ_FILE_TOO_LARGE: (maxBytes) =>
    new PayloadTooLarge(`body.file: the document is larger than the limit of ${maxBytes} bytes.`),
  FST_FILES_LIMIT: () =>
    new AppError(400, 'too_many_files', 'Send exactly one file part (the "file" field).'),
  FST_FIELDS_LIMIT: () =>
    new AppError(400, 'too_many_parts', `A form holds at most ${MAX_FIELDS} fields and one file.`),
  FST_PARTS_LIMIT: () =>
    new AppError(400, 'too_many_parts', `A form holds at most ${MAX_FIELDS} fields and one file.`),
  FST_PROTO_VIOLATION: () =>
    new AppError(
      400,
      'forbidden_property',
      'A form field may not be named __proto__ or constructor.',
    ),
  FST_INVALID_JSON_FIELD_ERROR: () =>
    new AppError(400, 'malformed_json', 'A form field declared as JSON is not valid JSON.'),
};

/** Our error for anything that went wrong while reading the form. */
function multipartError(err: unknown, maxBytes: number): unknown {
  if (err instanceof AppError) return err;
  const code = err instanceof Error && 'code' in err ? String(err.code) : '';
  const known = FORM_ERRORS[code];
  if (known) return known(maxBytes);
  if (err instanceof Error && 'statusCode' in err && Number(err.statusCode) >= 500) return err;
  // The parser's own errors (a truncated body, a broken part header) are all about the bytes sent.
  const reason = err instanceof Error ? err.message : String(err);
  return new AppError(
    400,
    'malformed_multipart',
    `The multipart body is malformed or truncated (${reason}).`,
  );
}

/** The client's name for the uploaded file (a default title only; the type comes from the bytes). */
export function uploadedFilename(request: FastifyRequest): string | undefined {
  return filenames.get(request);
}
