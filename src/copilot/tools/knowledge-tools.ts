import type { KnowledgeTools } from '../../knowledge/index.js';
import { builtinSource, type ToolSource } from './registry.js';

const k = { type: 'integer', minimum: 1, maximum: 20 };

/** `knowledge.search` and `knowledge.ask`: they run as the run's caller, under its groups. */
export function knowledgeToolSource(knowledge: KnowledgeTools): ToolSource {
  return builtinSource('knowledge', [
    {
      name: 'knowledge.search',
      description:
        "Searches the knowledge base (only documents the user may read). Returns the best matching passages with their document's title.",
      parameters: {
        type: 'object',
        properties: { query: { type: 'string', minLength: 1, maxLength: 2000 }, k },
        required: ['query'],
        additionalProperties: false,
      },
      sideEffect: false,
      permission: 'documents:read',
      call: async ({ principal, args, requestId, allowedDataClasses }) => {
        const r = await knowledge.search(
          principal,
          { query: String(args.query), k: typeof args.k === 'number' ? args.k : undefined },
          requestId,
          allowedDataClasses ?? null,
        );
        return r.data.map((h) => ({
          chunkId: h.chunkId,
          documentId: h.documentId,
          title: h.title,
          text: h.text,
          score: h.score,
        }));
      },
    },
    {
      name: 'knowledge.ask',
      description:
        'Answers a question from the knowledge base (only documents the user may read), with citations.',
      parameters: {
        type: 'object',
        properties: { question: { type: 'string', minLength: 1, maxLength: 2000 }, k },
        required: ['question'],
        additionalProperties: false,
      },
      sideEffect: false,
      permission: 'documents:read',
      call: async ({ principal, args, requestId, allowedDataClasses }) => {
        const r = await knowledge.ask(
          principal,
          { question: String(args.question), k: typeof args.k === 'number' ? args.k : undefined },
          requestId,
          allowedDataClasses ?? null,
        );
        return {
          answer: r.answer,
          citations: r.citations.map((c) => ({
            chunkId: c.chunkId,
            documentId: c.documentId,
            title: c.title,
            snippet: c.snippet,
          })),
        };
      },
    },
  ]);
}
