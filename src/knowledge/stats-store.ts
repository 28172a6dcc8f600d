import type { OperatorTx } from '../platform/db/database.js';

/**
 * Refreshes the knowledge tables' planner statistics through rampart_analyze_knowledge()
 * (migration 0006: the application role does not own the tables); returns the chunks counted.
 */
export async function analyzeKnowledge(op: OperatorTx): Promise<number> {
  const { rows } = await op.query<{ n: number }>(`SELECT rampart_analyze_knowledge()::float8 AS n`);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Documents by status across tenants, through the SECURITY DEFINER rampart_document_counts()
 * (migration 0006): counts only, no tenant data.
 */
export async function countDocumentsByStatus(
  op: OperatorTx,
): Promise<{ status: string; n: string | number }[]> {
  const { rows } = await op.query<{ status: string; n: string | number }>(
    `SELECT status, n FROM rampart_document_counts()`,
  );
  return rows;
}
