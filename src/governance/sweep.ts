import type { Logger } from 'pino';
import { pruneAuditBatch } from '../audit/prune-service.js';
import { appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import type { JobHandler } from '../platform/queue/queue.js';
import type { GovernanceMetrics } from './metrics.js';
import { RETENTION_CLASSES, type DataClass, type RetentionClass } from './registry.js';
import { deleteExpiredBatch, finishSweep, listHolds, listPolicies, startSweep } from './store.js';

export const RETENTION_SWEEP_JOB = 'governance.retention_sweep';

const DAY_MS = 86_400_000;

/** What a sweep did with one class. */
export type ClassOutcome =
  | { deleted: number }
  | { skipped: 'legal_hold' | 'not_available' }
  | { deleted: number; refused: { seq: number; reason: string } };

export interface SweepDeps {
  db: Database;
  serverSecret: string;
  settings: { auditFloorDays: number; batchSize: number };
  metrics?: GovernanceMetrics | undefined;
  logger?: Logger | undefined;
}

function isDataClass(name: string): name is DataClass {
  return Object.hasOwn(RETENTION_CLASSES, name);
}

/**
 * A tenant's retention sweep (one per period, opened by the scheduler): deletes what each
 * class's policy says is past its period, in bounded batches of their own transactions, never
 * a row naming a held user or document and nothing at all under a tenant-wide hold; prunes the
 * audit chain behind a signed checkpoint; then records the counts and one audit event.
 */
export class RetentionSweeper {
  constructor(private readonly deps: SweepDeps) {}

  handler(): JobHandler {
    return {
      run: async (job) => {
        const sweepId = (job.payload as { sweepId?: unknown } | null)?.sweepId;
        if (typeof sweepId !== 'string') throw new Error('retention sweep job without a sweepId');
        await this.sweep(job.tenantId, sweepId);
      },
    };
  }

  /** Runs the sweep; a sweep already completed is not run again (the job may be re-claimed). */
  async sweep(
    tenantId: string,
    sweepId: string,
    now: Date = new Date(),
  ): Promise<Record<string, ClassOutcome> | undefined> {
    const { db } = this.deps;
    const ctx = { tenantId, userId: null, groups: [] };
    const loaded = await db.withTenant(ctx, async (tx) => {
      if (!(await startSweep(tx, sweepId))) return undefined;
      return { policies: await listPolicies(tx), holds: await listHolds(tx) };
    });
    if (!loaded) return undefined;
    const tenantHold = loaded.holds.some((h) => h.scope === 'tenant');
    const held = loaded.holds.flatMap((h) => (h.subject_id ? [h.subject_id] : []));
    const result: Record<string, ClassOutcome> = {};
    try {
      for (const p of loaded.policies) {
        if (!isDataClass(p.data_class)) continue;
        const cls = RETENTION_CLASSES[p.data_class];
        if (tenantHold) result[cls.name] = { skipped: 'legal_hold' };
        else if (cls.name === 'audit') {
          const days = Math.max(p.days, this.deps.settings.auditFloorDays);
          result.audit = await this.#pruneAudit(ctx, new Date(now.getTime() - days * DAY_MS), held);
        } else if (cls.targets.length === 0) result[cls.name] = { skipped: 'not_available' };
        else {
          const before = new Date(now.getTime() - p.days * DAY_MS);
          result[cls.name] = { deleted: await this.#deleteClass(ctx, cls, before, held, p.tags) };
        }
        const outcome = result[cls.name];
        if (outcome && 'deleted' in outcome)
          this.deps.metrics?.retentionDeleted.inc({ class: cls.name }, outcome.deleted);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await db.withTenant(ctx, (tx) => finishSweep(tx, sweepId, 'failed', result, message));
      this.deps.metrics?.sweeps.inc({ outcome: 'failed' });
      throw err;
    }
    const refused = Object.values(result).some((o) => 'refused' in o);
    await db.withTenant(ctx, async (tx) => {
      await finishSweep(tx, sweepId, 'completed', result, null);
      await appendAuditEvent(tx, {
        actor: { type: 'system', id: null },
        action: 'retention.applied',
        target: { type: 'retention_sweep', id: sweepId },
        outcome: refused ? 'failure' : 'success',
        details: { classes: result, legalHold: tenantHold, heldSubjects: held.length },
      });
    });
    this.deps.metrics?.sweeps.inc({ outcome: 'completed' });
    return result;
  }

  async #deleteClass(
    ctx: { tenantId: string; userId: null; groups: never[] },
    cls: RetentionClass,
    before: Date,
    held: string[],
    tags: string[],
  ): Promise<number> {
    const limit = this.deps.settings.batchSize;
    let total = 0;
    for (const target of cls.targets) {
      for (;;) {
        // One short transaction per batch: no sweep holds row locks for long.
        const n = await this.deps.db.withTenant(ctx, (tx) =>
          deleteExpiredBatch(tx, target, { before, limit, held, tags: cls.tagged ? tags : [] }),
        );
        total += n;
        if (n < limit) break;
      }
    }
    return total;
  }

  async #pruneAudit(
    ctx: { tenantId: string; userId: null; groups: never[] },
    before: Date,
    held: string[],
  ): Promise<ClassOutcome> {
    let deleted = 0;
    for (;;) {
      const r = await this.deps.db.withTenant(ctx, (tx) =>
        pruneAuditBatch(tx, {
          before,
          held,
          limit: this.deps.settings.batchSize,
          serverSecret: this.deps.serverSecret,
        }),
      );
      deleted += r.pruned;
      if (r.broken) {
        this.deps.metrics?.auditPruneRefused.inc();
        this.deps.logger?.error(
          { tenantId: ctx.tenantId, broken: r.broken },
          'audit chain does not verify where retention would prune it: nothing pruned',
        );
        return { deleted, refused: r.broken };
      }
      if (!r.more) return { deleted };
    }
  }
}
