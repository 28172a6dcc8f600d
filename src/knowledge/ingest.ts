import { createHash } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { z } from 'zod';
import { holdGroupNames } from '../identity/groups-service.js';
import type { Database } from '../platform/db/database.js';
import type { TenantContext } from '../platform/db/types.js';
import type { Job, JobHandler } from '../platform/queue/queue.js';
import { chunkBlocks, type ChunkOptions } from './chunk.js';
import type { KnowledgeAnalyzer } from './analyze.js';
import { toVectorLiteral } from './embed.js';
import type { EmbedderSource } from './models.js';
import { servicePrincipal } from '../platform/http/principal.js';
import { ExtractionError, type ExtractionLimits } from './extract/index.js';
import type { DocumentExtractor } from './extract/pool.js';
import type { KnowledgeMetrics } from './metrics.js';
import { maskPii } from './pii.js';
import { readKnowledgeSettings } from './settings.js';
import {
  cacheEmbeddings,
  cachedEmbeddings,
  getDocument,
  readContent,
  replaceChunks,
  setStatus,
  type NewChunk,
} from './store.js';
import { inSpan } from '../platform/telemetry/spans.js';
import { toStorableText } from '../platform/http/safe-string.js';
import { at } from '../platform/checked.js';
import { recordWebhookEvent } from '../webhooks/index.js';

export const INGEST_JOB = 'knowledge.ingest';

const tracer = trace.getTracer('rampart.knowledge');

/** The ingestion job's payload; the document's groups let the job see the document under RLS. */
export const IngestPayload = z.object({
  documentId: z.uuid(),
  groups: z.array(z.string()),
});
export type IngestPayload = z.infer<typeof IngestPayload>;

export interface IngestOptions {
  /** Where extraction runs: the worker-thread pool, so no document can stall or exhaust this process. */
  extractor: DocumentExtractor;
  limits: ExtractionLimits;
  chunking: ChunkOptions;
  /** The default for tenants that never set `piiMasking` (PUT /v1/knowledge/settings). */
  maskPii: boolean;
}

/** Who hears about indexed chunks: the metrics, and the statistics refresher (embedded mode). */
export interface IngestObservers {
  metrics?: KnowledgeMetrics | undefined;
  analyzer?: KnowledgeAnalyzer | undefined;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * The ingestion job: extract → mask → chunk → embed → store. Idempotent: a settled document
 * is left alone, and chunks are replaced (never appended) in the transaction that marks the
 * document ready, so a re-run after a crash leaves exactly one set. A document that cannot be
 * read fails with a user-facing reason and completes the job (retrying would not help);
 * anything else (the database, an embedding endpoint) throws and is retried.
 */
export class Ingestor {
  constructor(
    private readonly db: Database,
    private readonly embedders: EmbedderSource,
    private readonly opts: IngestOptions,
    private readonly logger?: Logger,
    private readonly observers: IngestObservers = {},
  ) {}

  handler(): JobHandler {
    return {
      run: (job) => this.run(job),
      onDead: (job, error) => this.markDead(job, error),
      close: () => this.opts.extractor.close(),
    };
  }

  #context(job: Job): { ctx: TenantContext; payload: IngestPayload } {
    const payload = IngestPayload.parse(job.payload);
    // The job acts for no user: it holds exactly the groups that make its one document visible.
    return { ctx: { tenantId: job.tenantId, userId: null, groups: payload.groups }, payload };
  }

  async run(job: Job): Promise<void> {
    const { ctx, payload } = this.#context(job);
    const id = payload.documentId;
    const loaded = await this.db.withTenant(ctx, async (tx) => {
      const doc = await getDocument(tx, id);
      if (!doc || doc.status === 'ready' || doc.status === 'failed') return undefined;
      const content = await readContent(tx, id);
      if (!content) return undefined;
      await setStatus(tx, id, { status: 'processing' });
      const settings = await readKnowledgeSettings(tx, { piiMasking: this.opts.maskPii });
      return { doc, content, mask: settings.piiMasking };
    });
    if (!loaded) return;
    const { doc, content, mask } = loaded;

    let chunks;
    let pages: number | null;
    try {
      const extracted = await this.opts.extractor.extract(
        doc.source_type,
        content,
        this.opts.limits,
      );
      pages = extracted.pages;
      // Extractors can yield NULs (PDF text) that PostgreSQL text cannot hold: dropped here.
      const blocks = extracted.blocks.map((b) => ({
        ...b,
        text: toStorableText(mask ? maskPii(b.text).text : b.text),
      }));
      chunks = chunkBlocks(blocks, this.opts.chunking);
      if (chunks.length === 0) throw new ExtractionError('The document contains no text.');
    } catch (err) {
      if (!(err instanceof ExtractionError)) throw err;
      await this.db.withTenant(ctx, async (tx) => {
        await setStatus(tx, id, { status: 'failed', failureReason: err.message });
        await recordWebhookEvent(tx, 'document.failed', { documentId: id, reason: err.message });
      });
      this.logger?.info({ documentId: id, reason: err.message }, 'document failed ingestion');
      return;
    }

    // The job acts for its tenant as a service principal: the tenant id is the job row's, its
    // embedding calls are metered to that tenant with no key or user on the usage rows.
    const embedder = await this.embedders.forCaller(
      servicePrincipal(job.tenantId),
      `job:${job.id}`,
    );
    const model = embedder.model;
    const hashes = chunks.map((c) => sha256(c.text));
    const cached = await this.db.withTenant(ctx, (tx) => cachedEmbeddings(tx, model, hashes));
    const missing = [...new Set(hashes.filter((h) => !cached.has(h)))];
    const byHash = new Map(chunks.map((c, i) => [at(hashes, i), c.text]));
    const fresh = await inSpan(
      tracer,
      'knowledge.embed',
      {
        'embedding.model': model,
        'embedding.chunks': hashes.length,
        'embedding.cached': hashes.length - missing.length,
      },
      async () => {
        const out: { hash: string; embedding: string }[] = [];
        // A window, not the request size: the provider splits it into its own batches.
        const WINDOW = 512;
        for (let i = 0; i < missing.length; i += WINDOW) {
          const batch = missing.slice(i, i + WINDOW);
          const vectors = await embedder.embed(batch.map((h) => byHash.get(h) as string));
          batch.forEach((hash, j) =>
            out.push({ hash, embedding: toVectorLiteral(vectors[j] ?? []) }),
          );
        }
        return out;
      },
    );
    for (const f of fresh) cached.set(f.hash, f.embedding);

    const rows: NewChunk[] = chunks.map((c, i) => ({
      ...c,
      contentHash: at(hashes, i),
      embedding: cached.get(at(hashes, i)) as string,
    }));
    const stored = await this.db.withTenant(ctx, async (tx) => {
      // Before reading the groups the chunks copy: a group deletion cannot then rewrite the
      // document between this read and the commit (its chunk sweep would miss these chunks).
      await holdGroupNames(tx);
      const current = await getDocument(tx, id);
      if (!current || current.status !== 'processing') return false; // deleted or settled meanwhile
      await cacheEmbeddings(tx, model, fresh);
      await replaceChunks(tx, id, current.groups, model, rows);
      await setStatus(tx, id, { status: 'ready', pageCount: pages, chunkCount: rows.length });
      await recordWebhookEvent(tx, 'document.ready', { documentId: id, chunkCount: rows.length });
      return true;
    });
    if (!stored) return;
    this.observers.metrics?.chunksIndexed.inc(rows.length);
    await this.observers.analyzer?.chunksChanged(rows.length);
    this.logger?.info(
      { documentId: id, chunks: rows.length, pages, embedded: fresh.length },
      'document ingested',
    );
  }

  async markDead(job: Job, error: string): Promise<void> {
    const { ctx, payload } = this.#context(job);
    await this.db.withTenant(ctx, async (tx) => {
      const doc = await getDocument(tx, payload.documentId);
      if (!doc || doc.status === 'ready') return;
      const failureReason = `Processing failed after ${Math.min(job.attempt, job.maxAttempts)} attempts: ${error}`;
      await setStatus(tx, payload.documentId, { status: 'failed', failureReason });
      await recordWebhookEvent(tx, 'document.failed', {
        documentId: payload.documentId,
        reason: failureReason,
      });
    });
  }
}
