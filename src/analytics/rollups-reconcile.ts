import type { Database } from '../platform/db/database.js';
import { compareWithLedger, type GroupSums } from './rollups-store.js';

/** A group whose rollup differs from the ledger (a side is null when it has no such group). */
export interface Mismatch {
  group: string;
  ledger: GroupSums | null;
  rollup: GroupSums | null;
}

/** The verdict for one tenant over the days [from, to). */
export interface Reconciliation {
  tenantId: string;
  groups: number;
  mismatches: Mismatch[];
  /** Ledger rows in the range not yet rolled up (the job lags; not a mismatch). */
  pending: number;
}

const groupKey = (s: GroupSums): string =>
  JSON.stringify([s.day, s.keyId, s.userId, s.feature, s.alias, s.provider, s.targetModel]);

const sumsKey = (s: GroupSums): string =>
  JSON.stringify([
    s.requests,
    s.errors,
    s.cacheHits,
    s.promptTokens,
    s.completionTokens,
    s.cachedTokens,
    s.costUsd,
    s.unpricedRequests,
  ]);

/** Pairs the two sides group by group; every difference, to the last digit, is a mismatch. */
export function diffGroups(ledger: GroupSums[], rollups: GroupSums[]): Mismatch[] {
  const left = new Map(ledger.map((s) => [groupKey(s), s]));
  const right = new Map(rollups.map((s) => [groupKey(s), s]));
  const out: Mismatch[] = [];
  for (const key of new Set([...left.keys(), ...right.keys()])) {
    const l = left.get(key) ?? null;
    const r = right.get(key) ?? null;
    if (!l || !r || sumsKey(l) !== sumsKey(r)) out.push({ group: key, ledger: l, rollup: r });
  }
  return out;
}

/**
 * Compares a tenant's rollups with its ledger over the UTC days [from, to) (YYYY-MM-DD; undefined
 * for no bound): the ledger rows the job has taken, summed per group, must equal the rollups
 * exactly (integers and the 1e-10 USD cost alike).
 */
export async function reconcileTenant(
  db: Database,
  tenantId: string,
  from?: string,
  to?: string,
): Promise<Reconciliation> {
  const c = await db.withTenant({ tenantId, groups: [] }, (tx) => compareWithLedger(tx, from, to));
  return {
    tenantId,
    groups: c.ledger.length,
    mismatches: diffGroups(c.ledger, c.rollups),
    pending: c.pending,
  };
}
