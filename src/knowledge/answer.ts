import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';
import type { Principal } from '../platform/http/principal.js';
import {
  ASK_PROMPT_TEMPLATE,
  ASK_PROMPT_VERSION,
  chunkLabel,
  citedLabels,
  GenerationFailed,
  groundedPrompt,
  SYSTEM_PROMPT,
  type Generation,
} from './generate.js';
import { chunkContentHash, type NewRequestRecord } from '../governance/requests-service.js';
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
    /** Writes the answer's request record (governance: reconstruction). */
    private readonly recorder?: AnswerRecorder,
  ) {}

  /** `requestId` labels the usage rows of the model calls (query embedding, generation). */
  async ask(
    principal: Principal,
    body: AskBody,
    requestId: string = newRequestId(),
    /**
     * Data classes whoever reads the answer may receive (a copilot run's model: the answer goes
     * into its prompt); intersected with the answering model's own. null/undefined: any.
     */
    readerClasses?: readonly string[] | null,
  ): Promise<AskResponse> {
    const started = performance.now();
    const trail: AnswerTrail = { hits: [], generation: undefined, alias: null, timings: {} };
    const answer = await this.answer(principal, body, requestId, trail, readerClasses ?? null);
    trail.timings.totalMs = performance.now() - started;
    // Recorded before the answer is returned: feedback on this request id must find its asker,
    // and an answer given is an answer that can be reconstructed.
    await this.recorder?.(principal, recordOf(principal, requestId, body, answer, trail));
    await this.observer?.(principal, {
      requestId,
      supported: answer.citations.length > 0,
      topScore: trail.hits[0]?.score ?? null,
      question: body.question,
      answer: answer.answer,
      context: trail.hits.map((h) => h.text),
    });
    return answer;
  }

  private async answer(
    principal: Principal,
    body: AskBody,
    requestId: string,
    trail: AnswerTrail,
    readerClasses: readonly string[] | null,
  ): Promise<AskResponse> {
    // The model is known before retrieval: chunks of a data class its providers may not receive
    // are left out of the search, so they never reach the prompt (decision 020).
    const chat =
      body.mode === 'extractive' ? undefined : await this.chats.forCaller(principal, requestId);
    const allowed = intersectClasses(chat ? await chat.dataClassesAllowed() : null, readerClasses);
    const retrieving = performance.now();
    const { data: hits } = await this.search.search(
      principal,
      { query: body.question, k: body.k, mode: 'hybrid' },
      requestId,
      allowed,
    );
    trail.timings.retrievalMs = performance.now() - retrieving;
    trail.hits = hits;
    if (body.mode === 'extractive') return extractiveAnswer(body.question, hits);
    if (!chat)
      return body.mode === 'generative'
        ? {
            ...extractiveAnswer(body.question, hits),
            warning:
              'No chat model is configured (an answer alias in the knowledge settings, or ASK_CHAT_BASE_URL); this answer is extractive.',
          }
        : extractiveAnswer(body.question, hits);
    if (hits.length === 0) return extractiveAnswer(body.question, hits);
    trail.alias = chat.alias ?? chat.label;
    const user = groundedPrompt(body.question, hits);
    trail.prompt = [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: user },
    ];
    const generating = performance.now();
    try {
      const generation = await chat.generate(SYSTEM_PROMPT, user);
      trail.generation = generation;
      trail.timings.generationMs = performance.now() - generating;
      return generativeAnswer(generation.text, hits);
    } catch (err) {
      if (!(err instanceof GenerationFailed)) throw err;
      return {
        ...extractiveAnswer(body.question, hits),
        warning: `The chat model is unavailable (${err.message}); this answer is extractive.`,
      };
    }
  }
}

/** Classes allowed by both lists (null: no restriction from that side). */
function intersectClasses(
  a: readonly string[] | null,
  b: readonly string[] | null,
): readonly string[] | null {
  if (a === null) return b;
  if (b === null) return a;
  return a.filter((c) => b.includes(c));
}

/** What an answer was made from, gathered on the way (for its request record). */
interface AnswerTrail {
  hits: SearchHit[];
  generation: Generation | undefined;
  alias: string | null;
  prompt?: { role: string; content: string }[];
  timings: Record<string, number>;
}

/** Writes a request record (governance); errors fail the request, as a lost record would be. */
export type AnswerRecorder = (principal: Principal, record: NewRequestRecord) => Promise<void>;

function recordOf(
  principal: Principal,
  requestId: string,
  body: AskBody,
  answer: AskResponse,
  trail: AnswerTrail,
): NewRequestRecord {
  const cited = new Set(answer.citations.map((c) => c.chunkId));
  const g = trail.generation;
  return {
    requestId,
    kind: 'ask',
    userId: principal.userId,
    keyId: principal.keyId,
    question: body.question,
    chunks: trail.hits.map((h) => ({
      chunkId: h.chunkId,
      documentId: h.documentId,
      title: h.title,
      score: h.score,
      contentHash: chunkContentHash(h.text),
      cited: cited.has(h.chunkId),
    })),
    promptTemplate: g ? ASK_PROMPT_TEMPLATE : null,
    promptVersion: g ? ASK_PROMPT_VERSION : null,
    promptRendered: g ? (trail.prompt ?? null) : null,
    modelAlias: g ? trail.alias : null,
    provider: g?.provider ?? null,
    model: g?.model ?? null,
    answer: answer.answer,
    citations: answer.citations,
    promptTokens: g?.promptTokens ?? 0,
    completionTokens: g?.completionTokens ?? 0,
    costUsd: g?.costUsd ?? 0,
    redactions: g?.redactions ?? 0,
    timings: trail.timings,
  };
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
