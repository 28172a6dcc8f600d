import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const filenames = new WeakMap<FastifyRequest, string>();

/**
 * Accepts multipart/form-data uploads: fields become body properties and the single file part
 * a Buffer, so the route validates one body schema for JSON and forms alike. The file is
 * bounded by the document size limit while it streams in (413 beyond it).
 */
export async function registerUploads(app: FastifyInstance, maxBytes: number): Promise<void> {
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 65_536, parts: 11 },
    async onFile(this: FastifyRequest, part: MultipartFile) {
      filenames.set(this, part.filename);
      (part as MultipartFile & { value: unknown }).value = await part.toBuffer();
    },
  });
}

/** The client's name for the uploaded file (a default title only; the type comes from the bytes). */
export function uploadedFilename(request: FastifyRequest): string | undefined {
  return filenames.get(request);
}
