import { auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { InvalidInput, NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { DATA_CLASSES, RETENTION_CLASSES } from './registry.js';
import type { HoldView, PutHoldInput, PutRetentionInput, RetentionView } from './schemas.js';
import {
  deleteHold,
  deletePolicy,
  listHolds,
  listPolicies,
  recentSweeps,
  upsertHold,
  upsertPolicy,
} from './store.js';

/** Who changed something, as stored in updated_by / created_by. */
function byOf(p: Principal): string {
  const a = actorOf(p);
  return `${a.type}:${a.id ?? ''}`;
}

/** Retention periods per data class and legal holds: the tenant owner's side of governance. */
export class GovernanceService {
  constructor(
    private readonly db: Database,
    private readonly settings: { auditFloorDays: number },
  ) {}

  async retention(principal: Principal): Promise<RetentionView> {
    return this.db.withTenant(principal, async (tx) => {
      const policies = new Map((await listPolicies(tx)).map((p) => [p.data_class, p]));
      const sweeps = await recentSweeps(tx, 5);
      return {
        classes: DATA_CLASSES.map((name) => {
          const p = policies.get(name);
          return {
            name,
            description: RETENTION_CLASSES[name].description,
            days: p?.days ?? null,
            tags: p?.tags ?? [],
            tables: RETENTION_CLASSES[name].targets.map((t) => t.table),
            updatedAt: p?.updated_at.toISOString() ?? null,
          };
        }),
        auditFloorDays: this.settings.auditFloorDays,
        sweeps: sweeps.map((s) => ({
          id: s.id,
          periodStart: s.period_start.toISOString(),
          state: s.state,
          deleted: s.deleted,
          error: s.error,
          startedAt: s.started_at?.toISOString() ?? null,
          finishedAt: s.finished_at?.toISOString() ?? null,
        })),
      };
    });
  }

  /** Sets, clears (null) or keeps (omitted) each class's period; all or nothing, audited. */
  async setRetention(
    principal: Principal,
    body: PutRetentionInput,
    meta: RequestMeta,
  ): Promise<RetentionView> {
    const errors: { field: string; message: string }[] = [];
    const audit = body.audit;
    if (audit && audit.days < this.settings.auditFloorDays)
      errors.push({
        field: 'body.audit.days',
        message: `below the operator's floor of ${this.settings.auditFloorDays} days`,
      });
    for (const name of DATA_CLASSES) {
      const p = body[name];
      if (p?.tags?.length && !RETENTION_CLASSES[name].tagged)
        errors.push({ field: `body.${name}.tags`, message: 'only documents can be kept by tag' });
    }
    if (errors.length)
      throw new InvalidInput(errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
    await this.db.withTenant(principal, async (tx) => {
      const changes: Record<string, unknown> = {};
      for (const name of DATA_CLASSES) {
        const p = body[name];
        if (p === undefined) continue;
        if (p === null) await deletePolicy(tx, name);
        else
          await upsertPolicy(tx, {
            dataClass: name,
            days: p.days,
            tags: [...new Set(p.tags ?? [])].sort(),
            by: byOf(principal),
          });
        changes[name] = p;
      }
      await auditSuccess(
        tx,
        principal,
        meta,
        'retention.updated',
        { type: 'tenant', id: principal.tenantId },
        { changes },
      );
    });
    return this.retention(principal);
  }

  async holds(principal: Principal): Promise<HoldView[]> {
    const rows = await this.db.withTenant(principal, (tx) => listHolds(tx));
    return rows.map(holdView);
  }

  /** Places a hold (or updates the reason of the hold already on that subject). */
  async placeHold(
    principal: Principal,
    body: PutHoldInput,
    meta: RequestMeta,
  ): Promise<{ hold: HoldView; created: boolean }> {
    return this.db.withTenant(principal, async (tx) => {
      const { hold, created } = await upsertHold(tx, {
        scope: body.scope,
        subjectId: body.subjectId ?? null,
        reason: body.reason,
        by: byOf(principal),
      });
      await auditSuccess(
        tx,
        principal,
        meta,
        'legal_hold.placed',
        { type: 'legal_hold', id: hold.id },
        { scope: hold.scope, subjectId: hold.subject_id, reason: hold.reason, created },
      );
      return { hold: holdView(hold), created };
    });
  }

  async releaseHold(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.db.withTenant(principal, async (tx) => {
      const hold = await deleteHold(tx, id);
      if (!hold) throw new NotFound('Legal hold');
      await auditSuccess(
        tx,
        principal,
        meta,
        'legal_hold.released',
        { type: 'legal_hold', id },
        { scope: hold.scope, subjectId: hold.subject_id },
      );
    });
  }
}

function holdView(h: {
  id: string;
  scope: 'tenant' | 'user' | 'document';
  subject_id: string | null;
  reason: string;
  created_by: string;
  created_at: Date;
}): HoldView {
  return {
    id: h.id,
    scope: h.scope,
    subjectId: h.subject_id,
    reason: h.reason,
    createdBy: h.created_by,
    createdAt: h.created_at.toISOString(),
  };
}
