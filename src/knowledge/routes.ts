import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import { AskBody, AskResponse, type AnswerService } from './answer.js';
import { SearchBody, SearchHit, type SearchService } from './search.js';
import type { DocumentService } from './service.js';
import {
  KnowledgeSettings,
  KnowledgeSettingsPatch,
  type KnowledgeSettingsService,
} from './settings.js';
import { uploadedFilename } from './uploads.js';
import {
  ChunkSchema,
  CreateDocumentBody,
  CreateDocumentForm,
  DocumentAccepted,
  DocumentIdParams,
  DocumentListQuery,
  DocumentSchema,
} from './schemas.js';

/** The document API. JSON bodies carry their text inline; the declared field names the format. */
export function knowledgeRoutes(
  documents: DocumentService,
  opts: {
    maxBytes: number;
    search: SearchService;
    answers: AnswerService;
    settings: KnowledgeSettingsService;
  },
): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/search',
      auth: 'tenant',
      permission: 'documents:read',
      summary:
        'Search the chunks of documents the caller may read: hybrid (vector + BM25, fused), vector or keyword.',
      tags: ['knowledge'],
      body: SearchBody,
      response: {
        200: z.object({ mode: z.enum(['hybrid', 'vector', 'keyword']), data: z.array(SearchHit) }),
      },
      handler: ({ principal, body, meta }) => opts.search.search(principal, body, meta.requestId),
    }),
    route({
      method: 'POST',
      url: '/v1/ask',
      auth: 'tenant',
      permission: 'documents:read',
      summary:
        "Answer a question from the caller's documents, with citations (extractive when no chat model is configured).",
      tags: ['knowledge'],
      body: AskBody,
      response: { 200: AskResponse },
      handler: ({ principal, body, meta }) => opts.answers.ask(principal, body, meta.requestId),
    }),
    route({
      method: 'GET',
      url: '/v1/knowledge/settings',
      auth: 'tenant',
      permission: 'documents:read',
      summary:
        "The tenant's knowledge-hub settings (PII masking; whether owners and admins read restricted documents' content).",
      tags: ['knowledge'],
      response: { 200: KnowledgeSettings },
      handler: ({ principal }) => opts.settings.get(principal),
    }),
    route({
      method: 'PUT',
      url: '/v1/knowledge/settings',
      auth: 'tenant',
      // Turning masking off exposes personal data to every reader: an admin decision.
      permission: 'knowledge:manage',
      summary:
        "Change the tenant's knowledge-hub settings; applies to documents ingested afterwards (audited).",
      tags: ['knowledge'],
      body: KnowledgeSettingsPatch,
      response: { 200: KnowledgeSettings },
      handler: ({ principal, body, meta }) => opts.settings.update(principal, body, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/documents',
      auth: 'tenant',
      permission: 'documents:write',
      summary: 'Upload a document for ingestion; processing continues in the background.',
      tags: ['knowledge'],
      body: CreateDocumentBody,
      form: CreateDocumentForm,
      // JSON escaping can make a body larger than the text it carries; the service enforces the exact limit.
      bodyLimit: opts.maxBytes * 2 + 65_536,
      status: 202,
      response: { 202: DocumentAccepted },
      handler: ({ principal, body, meta, request }) => {
        const common = { tags: body.tags, groups: body.groups };
        if (body.file !== undefined)
          return documents.accept(
            principal,
            {
              ...common,
              title: body.title ?? uploadedFilename(request) ?? 'Untitled document',
              content: body.file,
            },
            meta,
          );
        const [declaredType, text] =
          body.text !== undefined
            ? (['text', body.text] as const)
            : body.markdown !== undefined
              ? (['markdown', body.markdown] as const)
              : (['html', body.html ?? ''] as const);
        return documents.accept(
          principal,
          {
            ...common,
            title: body.title ?? 'Untitled document',
            content: Buffer.from(text, 'utf8'),
            declaredType,
          },
          meta,
        );
      },
    }),
    route({
      method: 'GET',
      url: '/v1/documents',
      auth: 'tenant',
      permission: 'documents:read',
      summary: 'List documents the caller may read, newest first.',
      tags: ['knowledge'],
      query: DocumentListQuery,
      response: {
        200: z.object({ data: z.array(DocumentSchema), nextCursor: z.string().nullable() }),
      },
      handler: ({ principal, query }) => documents.list(principal, query),
    }),
    route({
      method: 'GET',
      url: '/v1/documents/:id',
      auth: 'tenant',
      permission: 'documents:read',
      summary: 'A document: status, failure reason, page and chunk counts, content hash.',
      tags: ['knowledge'],
      params: DocumentIdParams,
      response: { 200: DocumentSchema },
      handler: ({ principal, params }) => documents.get(principal, params.id),
    }),
    route({
      method: 'GET',
      url: '/v1/documents/:id/chunks',
      auth: 'tenant',
      permission: 'documents:read',
      summary: "A document's chunks as indexed (PII-masked text, pages, heading path).",
      tags: ['knowledge'],
      params: DocumentIdParams,
      response: { 200: z.object({ data: z.array(ChunkSchema) }) },
      handler: async ({ principal, params }) => ({
        data: await documents.chunks(principal, params.id),
      }),
    }),
    route({
      method: 'DELETE',
      url: '/v1/documents/:id',
      auth: 'tenant',
      permission: 'documents:delete',
      summary: 'Delete a document with its chunks, vectors and cached embeddings (audited).',
      tags: ['knowledge'],
      params: DocumentIdParams,
      status: 204,
      handler: ({ principal, params, meta }) => documents.delete(principal, params.id, meta),
    }),
  ];
}
