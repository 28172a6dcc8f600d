import type { TenantTx } from '../platform/db/database.js';
import { arrayLiteral } from '../platform/db/sql.js';

/** Records who made an answered request and whether the answer had support. */
export async function insertAnswerRequest(
  tx: TenantTx,
  r: {
    requestId: string;
    userId: string | null;
    keyId: string | null;
    supported: boolean;
    topScore: number | null;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO answer_requests (tenant_id, request_id, user_id, key_id, supported, top_score)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, request_id) DO NOTHING`,
    [tx.tenantId, r.requestId, r.userId, r.keyId, r.supported, r.topScore],
  );
}

export interface AnswerRequestRow {
  request_id: string;
  user_id: string | null;
  key_id: string | null;
}

/** The record of an answered request, or undefined. */
export async function answerRequest(
  tx: TenantTx,
  requestId: string,
): Promise<AnswerRequestRow | undefined> {
  const { rows } = await tx.query<AnswerRequestRow>(
    `SELECT request_id, user_id, key_id FROM answer_requests WHERE tenant_id = $1 AND request_id = $2`,
    [tx.tenantId, requestId],
  );
  return rows[0];
}

/** Stores (or replaces) the feedback on a request. */
export async function upsertFeedback(
  tx: TenantTx,
  f: {
    requestId: string;
    rating: string;
    score: number;
    comment: string | null;
    tags: string[];
    ratedBy: string;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO feedback (tenant_id, request_id, rating, score, comment, tags, rated_by)
     VALUES ($1, $2, $3, $4, $5, $6::text[], $7)
     ON CONFLICT (tenant_id, request_id) DO UPDATE SET rating = EXCLUDED.rating, score = EXCLUDED.score,
       comment = EXCLUDED.comment, tags = EXCLUDED.tags, rated_by = EXCLUDED.rated_by, updated_at = now()`,
    [tx.tenantId, f.requestId, f.rating, f.score, f.comment, arrayLiteral(f.tags), f.ratedBy],
  );
}

export interface FeedbackSummaryRow {
  answered: string;
  unsupported: string;
  rated: string;
  mean_score: number | null;
  up: string;
  down: string;
}

/** Counts since `since`: answered requests, unsupported ones, ratings and their mean score. */
export async function feedbackSummary(
  tx: TenantTx,
  since: Date,
): Promise<FeedbackSummaryRow | undefined> {
  const { rows } = await tx.query<FeedbackSummaryRow>(
    `SELECT (SELECT count(*) FROM answer_requests WHERE tenant_id = $1 AND created_at >= $2) AS answered,
            (SELECT count(*) FROM answer_requests WHERE tenant_id = $1 AND created_at >= $2 AND NOT supported) AS unsupported,
            count(f.request_id) AS rated,
            avg(f.score) AS mean_score,
            count(*) FILTER (WHERE f.score >= 0.5) AS up,
            count(*) FILTER (WHERE f.score < 0.5) AS down
       FROM feedback f WHERE f.tenant_id = $1 AND f.created_at >= $2`,
    [tx.tenantId, since],
  );
  return rows[0];
}

/** The most used feedback tags since `since`. */
export async function feedbackTags(
  tx: TenantTx,
  since: Date,
): Promise<{ tag: string; n: string }[]> {
  const { rows } = await tx.query<{ tag: string; n: string }>(
    `SELECT tag, count(*) AS n FROM feedback, unnest(tags) AS tag
      WHERE tenant_id = $1 AND created_at >= $2 GROUP BY tag ORDER BY count(*) DESC, tag LIMIT 20`,
    [tx.tenantId, since],
  );
  return rows;
}
