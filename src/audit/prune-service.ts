import type { TenantTx } from '../platform/db/database.js';
import { GENESIS_HASH } from './chain.js';
import { checkpointSignatureValid, signCheckpoint } from './checkpoint.js';
import { existingPseudonym } from './pseudonym-store.js';
import { chainRowProblem } from './service.js';
import {
  chainHead,
  chainPage,
  latestCheckpoint,
  lockChain,
  pruneThrough,
  type ChainRow,
} from './store.js';

export interface PruneOptions {
  /** Events that occurred before this are past their retention. */
  before: Date;
  /** Ids (users, documents, keys) under a legal hold: pruning stops at the first event naming one. */
  held: readonly string[];
  /** Events checked and pruned in this transaction at most. */
  limit: number;
  /** Signs the checkpoint (a key derived from it, src/audit/checkpoint.ts). */
  serverSecret: string;
}

export interface PruneResult {
  pruned: number;
  /** True when another batch may find more to prune. */
  more: boolean;
  /** The chain does not verify where pruning would start: nothing is pruned, and it says where. */
  broken?: { seq: number; reason: string };
}

function namesHeld(row: ChainRow, held: readonly string[]): boolean {
  if (held.length === 0) return false;
  const text = `${row.actor_id ?? ''}\n${row.target_id ?? ''}\n${JSON.stringify(row.details ?? null)}`;
  return held.some((id) => text.includes(id));
}

/**
 * Prunes one batch from the start of the tenant's audit chain: the oldest events that occurred
 * before `before`, never the head and never past an event naming a held subject. Each event is
 * verified against the chain (from the last checkpoint) before it goes, so tampering is reported
 * instead of pruned away; then the events are deleted and the signed checkpoint of the last one
 * recorded in one transaction (rampart_prune_audit), from which `rampart audit verify` continues.
 */
export async function pruneAuditBatch(tx: TenantTx, o: PruneOptions): Promise<PruneResult> {
  await lockChain(tx);
  const cp = await latestCheckpoint(tx);
  if (cp && !checkpointSignatureValid(o.serverSecret, { tenantId: tx.tenantId, ...cp }, cp.sig))
    return {
      pruned: 0,
      more: false,
      broken: { seq: cp.seq, reason: 'the pruning checkpoint’s signature does not verify' },
    };
  const head = await chainHead(tx);
  if (!head) return { pruned: 0, more: false };
  // Events name people by their audit pseudonym (src/audit/pseudonym-store.ts): a held person's
  // events are found by it as well as by the id itself.
  const pseudonyms = await Promise.all(o.held.map((id) => existingPseudonym(tx, 'user', id)));
  const held = [...o.held, ...pseudonyms.filter((p): p is string => p !== undefined)];
  let prevHash = cp?.hash ?? GENESIS_HASH;
  let expected = (cp?.seq ?? 0) + 1;
  const page = await chainPage(tx, expected - 1, o.limit);
  let last: ChainRow | undefined;
  let stopped = false;
  for (const row of page) {
    if (
      Number(row.seq) >= head.seq ||
      new Date(row.occurred_at).getTime() >= o.before.getTime() ||
      namesHeld(row, held)
    ) {
      stopped = true;
      break;
    }
    const problem = chainRowProblem(row, expected, prevHash);
    if (problem)
      return { pruned: 0, more: false, broken: { seq: Number(row.seq), reason: problem } };
    last = row;
    prevHash = row.hash;
    expected += 1;
  }
  if (!last) return { pruned: 0, more: false };
  const checkpoint = { tenantId: tx.tenantId, seq: Number(last.seq), hash: last.hash };
  const pruned = await pruneThrough(tx, checkpoint, signCheckpoint(o.serverSecret, checkpoint));
  return { pruned, more: !stopped && page.length === o.limit };
}
