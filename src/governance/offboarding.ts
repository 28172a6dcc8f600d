import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { SYSTEM_TENANT_ID, appendAuditEvent } from '../audit/service.js';
import { notifyTenantStanding } from '../identity/index.js';
import type { Database } from '../platform/db/database.js';
import { Conflict, Forbidden, NotFound } from '../platform/http/errors.js';
import type { RequestMeta } from '../platform/http/principal.js';
import type { JobHandler } from '../platform/queue/queue.js';
import type { GovernanceMetrics } from './metrics.js';
import type { OffboardingView } from './schemas.js';
import {
  disableTenant,
  findOffboarding,
  finishTenantPurge,
  purgeTenantRows,
  restoreTenant,
  tenantTables,
  type Offboarding,
  type TenantTable,
} from './store.js';

export const TENANT_PURGE_JOB = 'governance.tenant_purge';

/** This process's authenticator, told at once (other instances hear it by NOTIFY). */
export interface TenantStandingSink {
  disabled(tenantId: string): void;
  restored(tenantId: string): void;
}

export interface OffboardingDeps {
  db: Database;
  redis?: Redis | undefined;
  settings: { graceHours: number; batchSize: number };
  standing?: TenantStandingSink | undefined;
  metrics?: GovernanceMetrics | undefined;
  logger?: Logger | undefined;
}

const OPERATOR = { type: 'operator' as const, id: null };

/**
 * The deletion order of the tenant tables: a table goes only after every tenant table that
 * references it (children first), so each batch is a plain bounded DELETE that no foreign key
 * refuses and no cascade makes unbounded. Tables in a reference cycle go last, by name.
 */
export function purgeOrder(tables: readonly TenantTable[]): string[] {
  const names = new Set(tables.map((t) => t.name));
  const children = new Map<string, Set<string>>();
  for (const t of tables)
    for (const parent of t.references)
      if (names.has(parent) && parent !== t.name) {
        if (!children.has(parent)) children.set(parent, new Set());
        children.get(parent)?.add(t.name);
      }
  const done = new Set<string>();
  const order: string[] = [];
  let progressed = true;
  while (progressed) {
    progressed = false;
    for (const t of [...names].sort()) {
      if (done.has(t)) continue;
      if ([...(children.get(t) ?? [])].every((c) => done.has(c))) {
        done.add(t);
        order.push(t);
        progressed = true;
      }
    }
  }
  return [...order, ...[...names].filter((n) => !done.has(n)).sort()];
}

function view(o: Offboarding): OffboardingView {
  return {
    tenantId: o.tenantId,
    status: o.purgedAt ? 'purged' : o.purgeStartedAt ? 'purging' : 'disabled',
    disabledAt: o.requestedAt.toISOString(),
    purgeAfter: o.purgeAfter.toISOString(),
    purgedAt: o.purgedAt?.toISOString() ?? null,
    deleted: o.deleted,
  };
}

/**
 * Tenant offboarding, the operator's explicit cross-tenant path: disable at once (every
 * credential of the tenant is refused from the next request on, on every instance), restore
 * within the grace period, and after it purge every row of every table with a tenant_id column
 * (found in the catalogue) and every Redis key naming the tenant.
 */
export class OffboardingService {
  constructor(private readonly deps: OffboardingDeps) {}

  async disable(tenantId: string, meta: RequestMeta): Promise<OffboardingView> {
    if (tenantId === SYSTEM_TENANT_ID)
      throw new Forbidden('The reserved _system tenant cannot be offboarded.', 'system_tenant');
    const graceSeconds = this.deps.settings.graceHours * 3600;
    await this.deps.db.withOperator(async (op) => {
      const row = await disableTenant(op, tenantId, graceSeconds);
      if (!row) throw new NotFound('Tenant');
      await notifyTenantStanding(op, tenantId, true);
      const tx = await op.enterTenant({ tenantId, userId: null, groups: [] });
      await appendAuditEvent(tx, {
        actor: OPERATOR,
        action: 'tenant.disabled',
        target: { type: 'tenant', id: tenantId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { purgeAfter: row.purge_after.toISOString() },
      });
    });
    this.deps.standing?.disabled(tenantId);
    return this.status(tenantId);
  }

  async restore(tenantId: string, meta: RequestMeta): Promise<void> {
    await this.deps.db.withOperator(async (op) => {
      const r = await restoreTenant(op, tenantId);
      if (r === 'not_disabled') throw new Conflict('The tenant is not disabled.', 'not_disabled');
      if (r === 'purging')
        throw new Conflict(
          'The grace period is over: the tenant is being (or has been) purged.',
          'purge_started',
        );
      await notifyTenantStanding(op, tenantId, false);
      const tx = await op.enterTenant({ tenantId, userId: null, groups: [] });
      await appendAuditEvent(tx, {
        actor: OPERATOR,
        action: 'tenant.restored',
        target: { type: 'tenant', id: tenantId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
      });
    });
    this.deps.standing?.restored(tenantId);
  }

  async status(tenantId: string): Promise<OffboardingView> {
    const o = await this.deps.db.withOperator((op) => findOffboarding(op, tenantId));
    if (!o) throw new NotFound('Offboarding');
    return view(o);
  }

  handler(): JobHandler {
    return {
      run: async (job) => {
        const tenantId = (job.payload as { tenantId?: unknown } | null)?.tenantId;
        if (typeof tenantId !== 'string') throw new Error('tenant purge job without a tenantId');
        await this.purge(tenantId);
      },
    };
  }

  /**
   * Purges a disabled tenant past its grace period. Resumable and idempotent: each batch is
   * its own transaction, a re-run continues with what is left, and a finished purge is a no-op.
   */
  async purge(tenantId: string): Promise<Record<string, number>> {
    const { db } = this.deps;
    const before = await db.withOperator((op) => findOffboarding(op, tenantId));
    if (before?.purgedAt) return before.deleted;
    const deleted: Record<string, number> = {};
    try {
      // Rows written while the purge ran (a buffered usage row, a late audit event) are caught
      // by the next round; the finish step checks every table from the catalogue itself.
      for (let round = 0; ; round++) {
        const order = purgeOrder(await db.withOperator((op) => tenantTables(op)));
        for (const table of order) {
          for (;;) {
            const n = await db.withOperator((op) =>
              purgeTenantRows(op, tenantId, table, this.deps.settings.batchSize),
            );
            if (n > 0) deleted[table] = (deleted[table] ?? 0) + n;
            if (n < this.deps.settings.batchSize) break;
          }
        }
        const redisKeys = await this.#purgeRedis(tenantId);
        if (redisKeys) deleted['redis:keys'] = (deleted['redis:keys'] ?? 0) + redisKeys;
        const left = await db.withOperator((op) => finishTenantPurge(op, tenantId, deleted));
        if (left.length === 0) break;
        if (round >= 2) throw new Error(`rows keep appearing in ${left.join(', ')}`);
      }
    } catch (err) {
      this.deps.metrics?.purges.inc({ outcome: 'failed' });
      throw err;
    }
    const rows = Object.entries(deleted)
      .filter(([k]) => !k.startsWith('redis:'))
      .reduce((a, [, n]) => a + n, 0);
    this.deps.metrics?.purgeDeleted.inc({ store: 'postgres' }, rows);
    this.deps.metrics?.purgeDeleted.inc({ store: 'redis' }, deleted['redis:keys'] ?? 0);
    this.deps.metrics?.purges.inc({ outcome: 'completed' });
    // The tenant's own chain is gone with it: the purge is recorded in the _system chain.
    await db.withTenant({ tenantId: SYSTEM_TENANT_ID, userId: null, groups: [] }, (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'system', id: null },
        action: 'tenant.purged',
        target: { type: 'tenant', id: tenantId },
        outcome: 'success',
        details: { deleted },
      }),
    );
    this.deps.logger?.info({ tenantId, deleted }, 'tenant purged');
    return deleted;
  }

  /**
   * Deletes every Redis key naming the tenant. Every tenant-scoped key carries the tenant id in
   * clear (rl:{id}:…, bg:{id}:…, rampart:gwcache:v1:id:…; see docs/governance.md), and a UUID
   * names one tenant only, so one SCAN for it finds them all without a list of prefixes.
   */
  async #purgeRedis(tenantId: string): Promise<number> {
    const redis = this.deps.redis;
    if (!redis) return 0;
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `*${tenantId}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) count += await redis.unlink(...keys);
    } while (cursor !== '0');
    return count;
  }
}
