import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';
import type { Principal } from '../platform/http/principal.js';
import {
  chunkLabel,
  citedLabels,
  GenerationFailed,
  groundedPrompt,
  SYSTEM_PROMPT,
} from './generate.js';
import type { ChatSource } from './models.js';
import { newRequestId } from '../platform/http/request-id.js';
import type { SearchHit, SearchService } from './search.js';

export const AskBody = z.object({
  question: safeString().trim().min(1).max(2000),
  k: z.number().int().min(1).max(20).default(5),
  /**
   * `auto` (default): generative when a chat model is configured. `generative` without one is
   * answered extractively with a `warning`, never silently; `extractive` never calls a model.
   */
  mode: z.enum(['auto', 'generative', 'extractive']).default('auto'),
});
export type AskBody = z.infer<typeof AskBody>;

export const Citation = z.object({
  documentId: z.string(),
  chunkId: z.string(),
  title: z.string(),
  page: z.number().nullable(),
  snippet: z.string(),
});
export const AskResponse = z.object({
  answer: z.string(),
  citations: z.array(Citation),
  mode: z.enum(['extractive', 'generative']),
  /** Set when the answer is extractive though a generative one was wanted (no model, or it failed). */
  warning: z.string().optional(),
});
export type AskResponse = z.infer<typeof AskResponse>;

const STOP = new Set(
  'a an and are as at be by can do does for from has have how i in is it its of on or that the this to was were what when where which who why will with you your'.split(
    ' ',
  ),
);
const words = (s: string): string[] =>
  (s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 1 && !STOP.has(w));
// Crude suffix folding so "refunds" supports "refund"; the retrieval itself is properly stemmed.
const fold = (w: string): string => w.replace(/(?:ing|ed|es|s)$/u, '');

const MAX_SENTENCES = 3;

/**
 * Told of every answer given (evals records it for feedback ownership and quality metrics):
 * `supported` is false for a "not found" answer or one without a citation.
 */
export type AnswerObserver = (
  principal: Principal,
  facts: {
    requestId: string;
    supported: boolean;
    topScore: number | null;
    /** The question, the answer and the retrieved texts (what a sampled judge reads). */
    question: string;
    answer: string;
    context: string[];
  },
) => Promise<void>;

/**
 * Answers from the caller's own documents. With a chat model configured it is generative: the
 * model sees only the chunks retrieved for this caller, delimited as untrusted data, and of the
 * ids it cites only those of these chunks are kept. Without one (or when it fails) it is
 * extractive: the sentences of the top chunks that best cover the question's words, each cited
 * — deterministic and clearly labelled. Retrieval runs under the caller's RLS, so citations
 * can only name chunks the caller may read.
 */
export class AnswerService {
  constructor(
    private readonly search: SearchService,
    private readonly chats: ChatSource,
    private readonly observer?: AnswerObserver,
  ) {}

  /** `requestId` labels the usage rows of the model calls (query embedding, generation). */
  async ask(
    principal: Principal,
    body: AskBody,
    requestId: string = newRequestId(),
  ): Promise<AskResponse> {
    let topScore: number | null = null;
    let context: string[] = [];
    const answer = await this.answer(principal, body, requestId, (hits) => {
      topScore = hits[0]?.score ?? null;
      context = hits.map((h) => h.text);
    });
    // Recorded before the answer is returned: feedback on this request id must find its asker.
    await this.observer?.(principal, {
      requestId,
      supported: answer.citations.length > 0,
      topScore,
      question: body.question,
      answer: answer.answer,
      context,
    });
    return answer;
  }

  private async answer(
    principal: Principal,
    body: AskBody,
    requestId: string,
    onHits: (hits: readonly SearchHit[]) => void,
  ): Promise<AskResponse> {
    const { data: hits } = await this.search.search(
      principal,
      { query: body.question, k: body.k, mode: 'hybrid' },
      requestId,
    );
    onHits(hits);
    if (body.mode === 'extractive') return extractiveAnswer(body.question, hits);
    const chat = await this.chats.forCaller(principal, requestId);
    if (!chat)
      return body.mode === 'generative'
        ? {
            ...extractiveAnswer(body.question, hits),
            warning:
              'No chat model is configured (an answer alias in the knowledge settings, or ASK_CHAT_BASE_URL); this answer is extractive.',
          }
        : extractiveAnswer(body.question, hits);
    if (hits.length === 0) return extractiveAnswer(body.question, hits);
    try {
      const text = await chat.complete(SYSTEM_PROMPT, groundedPrompt(body.question, hits));
      return generativeAnswer(text, hits);
    } catch (err) {
      if (!(err instanceof GenerationFailed)) throw err;
      return {
        ...extractiveAnswer(body.question, hits),
        warning: `The chat model is unavailable (${err.message}); this answer is extractive.`,
      };
    }
  }
}

/** The model's answer with the citations it made, restricted to the chunks it was given. */
export function generativeAnswer(text: string, hits: readonly SearchHit[]): AskResponse {
  const byLabel = new Map(hits.map((h, i) => [chunkLabel(i), h]));
  const citations: AskResponse['citations'] = [];
  for (const label of citedLabels(text)) {
    const hit = byLabel.get(label);
    if (!hit) continue; // an id the model invented: never surfaced
    citations.push({
      documentId: hit.documentId,
      chunkId: hit.chunkId,
      title: hit.title,
      page: hit.page,
      snippet: hit.text.slice(0, 300),
    });
  }
  // Renumber markers to positions in `citations`, as extractive answers do ([1], [2]); a
  // marker naming no given chunk disappears with its citation.
  const number = new Map(citations.map((c, n) => [c.chunkId, n + 1]));
  const answer = text
    .replace(/\s?\[([^\]]{1,200})\]/gu, (whole, inner: string) => {
      const labels = citedLabels(`[${inner}]`);
      if (labels.length === 0) return whole; // not a citation, e.g. "[sic]"
      const ns = labels
        .map((l) => byLabel.get(l))
        .filter((h): h is SearchHit => h !== undefined)
        .map((h) => number.get(h.chunkId));
      return ns.length > 0 ? ` [${ns.join(', ')}]` : '';
    })
    .trim();
  return { answer, citations, mode: 'generative' };
}

/** The best supporting sentences of the hits, in rank order of support, with one citation each. */
export function extractiveAnswer(question: string, hits: readonly SearchHit[]): AskResponse {
  const wanted = new Set(words(question).map(fold));
  if (hits.length === 0 || wanted.size === 0)
    return {
      answer: 'No document you can read answers this question.',
      citations: [],
      mode: 'extractive',
    };
  const candidates = hits.flatMap((hit, rank) =>
    hit.text
      .split(/(?<=[.!?])\s+|\n{2,}/u)
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((sentence, position) => {
        const present = new Set(words(sentence).map(fold));
        let overlap = 0;
        for (const w of wanted) if (present.has(w)) overlap += 1;
        // Coverage of the question first; the retrieval rank and position break ties.
        const score = overlap / wanted.size - rank * 0.01 - position * 0.001;
        return { hit, sentence, overlap, score };
      }),
  );
  const best = candidates
    .filter((c) => c.overlap > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, MAX_SENTENCES);
  if (best.length === 0)
    return {
      answer: 'No document you can read answers this question.',
      citations: [],
      mode: 'extractive',
    };
  const citations: AskResponse['citations'] = [];
  const parts = best.map((c) => {
    let n = citations.findIndex((x) => x.chunkId === c.hit.chunkId);
    if (n < 0) {
      citations.push({
        documentId: c.hit.documentId,
        chunkId: c.hit.chunkId,
        title: c.hit.title,
        page: c.hit.page,
        snippet: c.sentence.slice(0, 300),
      });
      n = citations.length - 1;
    }
    return `${c.sentence} [${n + 1}]`;
  });
  return { answer: parts.join(' '), citations, mode: 'extractive' };
}
