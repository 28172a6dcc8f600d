import type { RecordedChunk, StoredRequestRecord } from './requests-store.js';

/**
 * What became of a chunk an answer used:
 * - `unchanged`: the chunk (or, after a re-ingestion, a chunk of its document) still has the
 *   content hash recorded with the answer;
 * - `changed`: the chunk's content differs now (its hash changed, or its document was re-ingested
 *   and no chunk of it has that content any more);
 * - `deleted`: its document no longer exists.
 */
export type ChunkStatus = 'unchanged' | 'changed' | 'deleted';

export interface CheckedChunk extends RecordedChunk {
  status: ChunkStatus;
  /** The hash stored now (null when the chunk no longer exists). */
  currentHash: string | null;
}

export interface Reconstruction extends Omit<StoredRequestRecord, 'chunks'> {
  chunks: CheckedChunk[];
  /** Cited chunks whose content changed or was deleted since the answer. */
  flagged: { chunkId: string; documentId: string; status: ChunkStatus }[];
}

/** Compares the recorded chunks with what is stored now (rampart_chunk_state's rows). */
export function checkChunks(
  record: StoredRequestRecord,
  current: readonly { documentId: string; chunkId: string | null; contentHash: string | null }[],
): Reconstruction {
  const byChunk = new Map<string, string | null>();
  const docs = new Map<string, Set<string>>();
  for (const row of current) {
    let hashes = docs.get(row.documentId);
    if (!hashes) docs.set(row.documentId, (hashes = new Set()));
    if (row.chunkId) byChunk.set(row.chunkId, row.contentHash);
    if (row.contentHash) hashes.add(row.contentHash);
  }
  const chunks = record.chunks.map((c): CheckedChunk => {
    const now = byChunk.get(c.chunkId);
    if (now !== undefined)
      return { ...c, currentHash: now, status: now === c.contentHash ? 'unchanged' : 'changed' };
    const doc = docs.get(c.documentId);
    if (!doc) return { ...c, currentHash: null, status: 'deleted' };
    return { ...c, currentHash: null, status: doc.has(c.contentHash) ? 'unchanged' : 'changed' };
  });
  return {
    ...record,
    chunks,
    flagged: chunks
      .filter((c) => c.cited && c.status !== 'unchanged')
      .map((c) => ({ chunkId: c.chunkId, documentId: c.documentId, status: c.status })),
  };
}

/** The record as the CLI prints it: plain text, one fact a line, flags first-class. */
export function formatReconstruction(tenantSlug: string, r: Reconstruction): string {
  const lines: string[] = [];
  const push = (label: string, value: unknown): void => {
    if (value === null || value === undefined || value === '') return;
    lines.push(`${label.padEnd(14)}${typeof value === 'string' ? value : JSON.stringify(value)}`);
  };
  lines.push(`request ${r.requestId} of ${tenantSlug} (${r.kind}, ${r.createdAt})`);
  push('asked by', r.userId ? `user ${r.userId}` : r.keyId ? `api key ${r.keyId}` : null);
  push('question', r.question);
  push('model alias', r.modelAlias);
  push('provider', r.provider);
  push('model', r.model);
  push(
    'prompt',
    r.promptTemplate
      ? `${r.promptTemplate}@${r.promptVersion ?? '?'}${r.promptRendered === null ? ' (rendered prompt not stored)' : ''}`
      : null,
  );
  push(
    'tokens',
    `${r.promptTokens} in, ${r.completionTokens} out, $${r.costUsd.toFixed(6)}, ${r.redactions} redactions`,
  );
  push(
    'timings',
    Object.entries(r.timings)
      .map(([k, v]) => `${k} ${Math.round(v)} ms`)
      .join(', '),
  );
  lines.push('chunks:');
  if (r.chunks.length === 0) lines.push('  (none)');
  for (const c of r.chunks) {
    const flag = c.status === 'unchanged' ? 'ok' : c.status.toUpperCase();
    const score = c.score === null ? '' : ` score ${c.score.toFixed(4)}`;
    lines.push(
      `  [${flag}] ${c.chunkId} of ${c.documentId} "${c.title}"${score}${c.cited ? ' cited' : ''} hash ${c.contentHash.slice(0, 16)}`,
    );
  }
  lines.push('answer:');
  lines.push(
    `  ${typeof r.answer === 'string' ? r.answer : JSON.stringify(r.answer)}`.replace(
      /\n/g,
      '\n  ',
    ),
  );
  if (r.citations.length > 0) push('citations', r.citations);
  lines.push(
    r.flagged.length === 0
      ? 'cited content: unchanged since the answer'
      : `cited content: ${r.flagged.length} chunk(s) changed or deleted since the answer: ${r.flagged
          .map((f) => `${f.chunkId} ${f.status}`)
          .join(', ')}`,
  );
  return `${lines.join('\n')}\n`;
}
