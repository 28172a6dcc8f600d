import type { Logger } from 'pino';
import { appendAuditEvent } from '../audit/service.js';
import {
  existingPseudonym,
  openIp,
  pseudonymKeys,
  reveal,
  revealMap,
  shredSubject,
} from '../audit/index.js';
import { notifyUserKeysChanged } from '../identity/index.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import type { Job, JobHandler } from '../platform/queue/queue.js';
import { DATA_MAP } from './data-map.js';
import {
  ERASURE_STEPS,
  clearErasureRecords,
  completeErasure,
  failErasure,
  findErasure,
  legacyAuditMentions,
  recordStep,
  type Counts,
  type ErasureTarget,
} from './erasure-store.js';
import {
  documentFiles,
  exportRows,
  failExport,
  findExport,
  memberOf,
  storeArchive,
  tableColumns,
} from './exports-store.js';
import { sha256, writeTar, type TarEntry } from './exports-tar.js';
import { subjectJobContext, tenantGroups } from './subject-store.js';

/** Column types an export never writes: derived vectors and search indexes, raw bytes. */
const UNEXPORTED_TYPES = new Set(['USER-DEFINED', 'tsvector', 'bytea']);

function payloadId(job: Job, key: string): string {
  const v = (job.payload as Record<string, unknown> | null)?.[key];
  if (typeof v !== 'string') throw new Error(`job payload lacks ${key}`);
  return v;
}

function actorFrom(requestedBy: string): { type: 'user' | 'api_key'; id: string | null } {
  const [type, id] = requestedBy.split(':');
  return { type: type === 'user' ? 'user' : 'api_key', id: id || null };
}

function jsonValue(v: unknown): unknown {
  return Buffer.isBuffer(v) ? v.toString('base64') : v;
}

export class SubjectJobs {
  constructor(
    private readonly db: Database,
    private readonly logger?: Logger,
  ) {}

  /** Runs fn in the tenant under the subject jobs' context (every group, see subject-store.ts). */
  private async inTenant<T>(tenantId: string, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
    const groups = await this.db.withTenant({ tenantId, groups: [] }, (tx) => tenantGroups(tx));
    return this.db.withTenant(subjectJobContext(tenantId, groups), fn);
  }

  handlers(): Record<string, JobHandler> {
    return {
      'governance.export': {
        run: (job) => this.runExport(job.tenantId, payloadId(job, 'exportId')),
        onDead: (job, error) =>
          this.inTenant(job.tenantId, (tx) => failExport(tx, payloadId(job, 'exportId'), error)),
      },
      'governance.erase': {
        run: (job) => this.runErasure(job.tenantId, payloadId(job, 'erasureId')),
        onDead: (job, error) =>
          this.inTenant(job.tenantId, (tx) => failErasure(tx, payloadId(job, 'erasureId'), error)),
      },
    };
  }

  /** Builds and stores an export archive; a completed export is left as it is (idempotent). */
  async runExport(tenantId: string, exportId: string): Promise<void> {
    await this.inTenant(tenantId, async (tx) => {
      const row = await findExport(tx, exportId);
      if (!row || row.status !== 'queued') return;
      let person: { userId: string; email: string; pseudonym: string | null } | null = null;
      if (row.scope === 'user' && row.subject_user_id) {
        const member = await memberOf(tx, row.subject_user_id);
        if (!member) {
          await failExport(tx, exportId, 'The person is no longer a member of this tenant.');
          return;
        }
        person = {
          userId: row.subject_user_id,
          email: member.email,
          pseudonym: (await existingPseudonym(tx, 'user', row.subject_user_id)) ?? null,
        };
      }
      const tables = Object.keys(DATA_MAP).filter((t) => DATA_MAP[t]?.export);
      const columns = await tableColumns(tx, tables);
      const entries: TarEntry[] = [];
      const listed: { path: string; bytes: number; sha256: string; rows?: number }[] = [];
      const add = (path: string, content: Buffer, rows?: number): void => {
        entries.push({ name: path, content });
        listed.push({
          path,
          bytes: content.length,
          sha256: sha256(content),
          ...(rows === undefined ? {} : { rows }),
        });
      };
      for (const table of tables) {
        const spec = DATA_MAP[table]?.export;
        const cols = columns.get(table);
        if (!spec || !cols || (person && spec.user === null)) continue;
        const omit = new Set(spec.omit ?? []);
        const chosen = cols.filter((c) => !omit.has(c.name) && !UNEXPORTED_TYPES.has(c.type));
        let rows = await exportRows(tx, {
          table,
          columns: chosen.map((c) => c.name),
          tenantColumn: cols.some((c) => c.name === 'tenant_id'),
          where: spec.user,
          person,
        });
        // Audit events name people by pseudonym: the archive shows whom, where still known.
        if (table === 'audit_events') {
          const keys = await pseudonymKeys(
            tx,
            rows.flatMap((r) => (typeof r.actor_id === 'string' ? [r.actor_id] : [])),
          );
          rows = reveal(
            rows.map((r) => ({
              ...r,
              ip: openIp(typeof r.ip === 'string' ? r.ip : null, keys.get(String(r.actor_id))),
            })),
            await revealMap(tx, rows),
          );
        }
        const lines = rows.map((r) =>
          JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, jsonValue(v)]))),
        );
        add(
          `data/${spec.dataClass}.jsonl`,
          Buffer.from(lines.map((l) => `${l}\n`).join('')),
          rows.length,
        );
      }
      const files = await documentFiles(tx, person);
      for (const f of files) add(`files/${f.id}`, f.content);
      const manifest = {
        format: 'rampart-export-v1',
        exportId,
        tenantId,
        scope: row.scope,
        subjectUserId: row.subject_user_id,
        createdAt: new Date().toISOString(),
        entries: listed,
      };
      entries.push({
        name: 'manifest.json',
        content: Buffer.from(JSON.stringify(manifest, null, 2)),
      });
      const archive = writeTar(entries);
      const stored = await storeArchive(tx, exportId, {
        content: archive,
        sha256: sha256(archive),
        files: files.length,
      });
      if (!stored) return;
      await appendAuditEvent(tx, {
        actor: actorFrom(row.requested_by),
        action: 'export.completed',
        target: { type: 'export', id: exportId },
        outcome: 'success',
        details: { scope: row.scope, bytes: archive.length, entries: listed.length },
      });
    });
  }

  /**
   * Erases a person, step by step (erasure-store.ts), each step in its own transaction that also
   * records it: a job that dies resumes at the first step not recorded, and a finished erasure
   * run again does nothing.
   */
  async runErasure(tenantId: string, erasureId: string): Promise<void> {
    const row = await this.inTenant(tenantId, (tx) => findErasure(tx, erasureId));
    if (!row || row.status === 'completed' || row.status === 'failed' || !row.user_id) return;
    const target: ErasureTarget = {
      id: row.id,
      userId: row.user_id,
      email: row.email,
      pseudonym: row.pseudonym,
      documents: row.documents,
      transferTo: row.transfer_to,
    };
    let counts: Counts = { ...row.counts };
    for (const step of ERASURE_STEPS) {
      if (row.steps.includes(step.name)) continue;
      await this.inTenant(tenantId, async (tx) => {
        if (step.name === 'access') await notifyUserKeysChanged(tx, target.userId);
        const added = await step.run(tx, target);
        const merged: Counts = { ...counts };
        for (const [k, n] of Object.entries(added)) merged[k] = (merged[k] ?? 0) + n;
        await recordStep(tx, row.id, step.name, merged);
        counts = merged;
      });
    }
    await this.inTenant(tenantId, async (tx) => {
      const final: Counts = {
        ...counts,
        subject_erasures: await clearErasureRecords(tx, target),
        audit_events_legacy: await legacyAuditMentions(tx, target),
        // Last: from here on no key maps the person's audit pseudonyms back (crypto-shredding).
        audit_subject_keys: await shredSubject(tx, target.userId, target.email),
      };
      await recordStep(tx, row.id, 'audit', final);
      await completeErasure(tx, row.id);
      await appendAuditEvent(tx, {
        actor: actorFrom(row.requested_by),
        action: 'erasure.completed',
        target: { type: 'erasure', id: row.id },
        outcome: 'success',
        details: { counts: final, documents: row.documents },
      });
    });
    this.logger?.info({ tenantId, erasureId }, 'erasure completed');
  }
}
