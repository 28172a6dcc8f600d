import type { Logger } from 'pino';
import type { Database } from '../platform/db/database.js';
import { analyzeKnowledge } from './stats-store.js';

export interface AnalyzeThreshold {
  /** Chunks changed before the first refresh, and added to every threshold. */
  base: number;
  /** Fraction of the chunks counted at the last refresh that must change before the next. */
  scale: number;
}

/**
 * Sparser than autovacuum's 50 + 10 %: on the embedded database ANALYZE holds the one connection
 * every request needs, so it runs once the chunks grew by half (about eight times while a
 * table fills to 5,000 chunks, not fifty). The planner needs the order of magnitude, not more.
 */
export const DEFAULT_ANALYZE_THRESHOLD: AnalyzeThreshold = { base: 200, scale: 0.5 };

/**
 * Keeps the knowledge tables' planner statistics fresh where nothing else does. Embedded PGlite
 * has no autovacuum: without statistics the planner takes a freshly filled chunks table for an
 * empty one and scans every chunk instead of using the HNSW index. The worker reports the
 * chunks it writes; past the threshold this runs rampart_analyze_knowledge()
 * (migration 0006: the application role does not own the tables). One refresh at a time; a
 * failed refresh is logged and never fails the ingestion that triggered it.
 */
export class KnowledgeAnalyzer {
  #pending = 0;
  #counted = 0;
  #running: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger?: Logger,
    private readonly threshold: AnalyzeThreshold = DEFAULT_ANALYZE_THRESHOLD,
  ) {}

  /** Notes `rows` chunks written; refreshes the statistics when enough have changed. */
  async chunksChanged(rows: number): Promise<void> {
    this.#pending += rows;
    if (this.#running) return this.#running;
    if (this.#pending < this.threshold.base + this.threshold.scale * this.#counted) return;
    this.#pending = 0;
    this.#running = this.#refresh().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #refresh(): Promise<void> {
    try {
      this.#counted = await this.db.withOperator(analyzeKnowledge);
      this.logger?.debug({ chunks: this.#counted }, 'knowledge statistics refreshed');
    } catch (err) {
      this.logger?.warn({ err }, 'refreshing knowledge statistics failed');
    }
  }
}
