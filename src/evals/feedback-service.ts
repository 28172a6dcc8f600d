import { z } from 'zod';
import { auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { Forbidden, NotFound } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { safeString } from '../platform/http/safe-string.js';
import { actorKey } from './service.js';
import {
  answerRequest,
  feedbackSummary,
  feedbackTags,
  insertAnswerRequest,
  upsertFeedback,
} from './feedback-store.js';
import type { QualityMetrics } from './metrics.js';
import { sampleAnswer, type JudgeSampling } from './sampled-judge.js';

export const FeedbackBody = z
  .object({
    /** The x-request-id of the /v1/ask answer being rated. */
    requestId: z.string().min(8).max(128),
    rating: z.union([z.enum(['up', 'down']), z.number().int().min(1).max(5)]),
    comment: safeString().max(4000).optional(),
    tags: z.array(safeString().min(1).max(64)).max(20).optional(),
  })
  .strict();
export type FeedbackBody = z.infer<typeof FeedbackBody>;

export const SummaryQuery = z.object({ days: z.coerce.number().int().min(1).max(365).default(7) });

export const FeedbackSummary = z.object({
  since: z.string(),
  answered: z.number(),
  unsupported: z.number(),
  /** Share of answers without support (no citation, "not found"); 0 with no answers. */
  unsupportedShare: z.number(),
  rated: z.number(),
  /** Mean rating on 0..1; null with no ratings. */
  meanScore: z.number().nullable(),
  up: z.number(),
  down: z.number(),
  tags: z.array(z.object({ tag: z.string(), count: z.number() })),
});
export type FeedbackSummary = z.infer<typeof FeedbackSummary>;

/** A rating on 0..1: up 1, down 0, n of 5 as (n-1)/4. */
export function ratingScore(rating: FeedbackBody['rating']): number {
  if (rating === 'up') return 1;
  if (rating === 'down') return 0;
  return (rating - 1) / 4;
}

/** What the knowledge hub reports about each answer it gives (see knowledge AnswerObserver). */
export interface AnswerFacts {
  requestId: string;
  supported: boolean;
  topScore: number | null;
  question: string;
  answer: string;
  context: string[];
}

/** Feedback on answers, and the record of answers that feedback and drift metrics read. */
export class FeedbackService {
  constructor(
    private readonly db: Database,
    private readonly metrics: QualityMetrics,
    private readonly sampling?: JudgeSampling,
  ) {}

  /** Records an answer: who asked (for feedback ownership), whether it had support, its top score. */
  async recordAnswer(principal: Principal, facts: AnswerFacts): Promise<void> {
    this.metrics.answers.inc({ supported: String(facts.supported) });
    if (facts.topScore !== null) this.metrics.drift.observe(facts.topScore);
    await this.db.withTenant(principal, async (tx) => {
      await insertAnswerRequest(tx, {
        requestId: facts.requestId,
        supported: facts.supported,
        topScore: facts.topScore,
        userId: principal.userId,
        keyId: principal.keyId,
      });
      // A sampled answer's judging job commits with its record (the background judge).
      if (this.sampling)
        await sampleAnswer(tx, this.sampling, {
          requestId: facts.requestId,
          question: facts.question,
          answer: facts.answer,
          context: facts.context,
        });
    });
  }

  /**
   * Rates an answer. Only its asker (the same user, or the same key for a key with no user) or
   * an admin (knowledge:manage) may; anyone else gets 403, and an unknown id 404.
   */
  submit(
    principal: Principal,
    body: FeedbackBody,
    meta: RequestMeta,
  ): Promise<{ requestId: string; score: number }> {
    return this.db.withTenant(principal, async (tx) => {
      const asked = await answerRequest(tx, body.requestId);
      if (!asked) throw new NotFound('Answered request');
      const sameUser = asked.user_id !== null && asked.user_id === principal.userId;
      const sameKey =
        asked.user_id === null && asked.key_id !== null && asked.key_id === principal.keyId;
      if (!sameUser && !sameKey && !principal.permissions.has('knowledge:manage'))
        throw new Forbidden(
          'Only who asked, or an admin, may rate an answer.',
          'feedback_forbidden',
        );
      const score = ratingScore(body.rating);
      await upsertFeedback(tx, {
        requestId: body.requestId,
        rating: String(body.rating),
        score,
        comment: body.comment ?? null,
        tags: body.tags ?? [],
        ratedBy: actorKey(principal),
      });
      await auditSuccess(
        tx,
        principal,
        meta,
        'feedback.recorded',
        { type: 'request', id: body.requestId },
        { rating: String(body.rating), tags: body.tags ?? [] },
      );
      this.metrics.feedback.observe(score);
      return { requestId: body.requestId, score };
    });
  }

  summary(principal: Principal, days: number): Promise<FeedbackSummary> {
    const since = new Date(Date.now() - days * 86_400_000);
    return this.db.withTenant(principal, async (tx) => {
      const s = await feedbackSummary(tx, since);
      const tags = await feedbackTags(tx, since);
      const answered = Number(s?.answered ?? 0);
      const unsupported = Number(s?.unsupported ?? 0);
      return {
        since: since.toISOString(),
        answered,
        unsupported,
        unsupportedShare: answered === 0 ? 0 : unsupported / answered,
        rated: Number(s?.rated ?? 0),
        meanScore:
          s?.mean_score === null || s?.mean_score === undefined ? null : Number(s.mean_score),
        up: Number(s?.up ?? 0),
        down: Number(s?.down ?? 0),
        tags: tags.map((t) => ({ tag: t.tag, count: Number(t.n) })),
      };
    });
  }
}
