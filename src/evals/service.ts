import { z } from 'zod';
import { appendAuditEvent, auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { Forbidden, InvalidInput, NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import type { RampartClient } from './client.js';
import { datasetFromCases, DatasetInvalid, type Dataset } from './dataset.js';
import { evaluateGate, type GateVerdict } from './gate.js';
import { runDataset } from './runner.js';
import {
  DatasetName,
  EvalCase,
  RunResult,
  type DatasetBody,
  type DatasetSchema,
} from './schemas.js';
import {
  datasetById,
  insertDataset,
  insertRun,
  latestDataset,
  listLatestDatasets,
  runById,
  type DatasetRow,
} from './store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

export const StartRunBody = z
  .object({
    /** A stored dataset: its id (one version) or its name (the newest version). */
    dataset: z.string().min(1).max(100),
    concurrency: z.number().int().min(1).max(16).default(4),
    repeats: z.number().int().min(1).max(10).default(1),
    judgeModel: z.string().min(1).max(128).optional(),
    judgeRepeats: z.number().int().min(1).max(9).default(1),
    failUnder: z
      .object({
        score: z.number().min(0).max(1).optional(),
        passRate: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
    /** An earlier run of this tenant: a case that passed there and fails now fails the gate. */
    baselineRunId: z.uuid().optional(),
  })
  .strict();
export type StartRunBody = z.infer<typeof StartRunBody>;

export const RunView = z.object({
  id: z.string(),
  datasetId: z.string(),
  passed: z.boolean(),
  gate: z.object({
    ok: z.boolean(),
    failures: z.array(z.object({ kind: z.string(), message: z.string() })),
  }),
  result: RunResult,
  createdAt: z.string(),
});
export type RunView = z.infer<typeof RunView>;

const StoredRun = z.object({ gate: RunView.shape.gate, result: RunResult });

/** Who did it, as stored in created_by: a user or a key. */
export function actorKey(p: Principal): string {
  return p.userId ? `user:${p.userId}` : `key:${p.keyId ?? 'none'}`;
}

function datasetView(row: DatasetRow, withCases: boolean): DatasetSchema {
  const cases = z.array(EvalCase).parse(row.cases);
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    caseCount: cases.length,
    contentHash: row.content_hash,
    createdAt: row.created_at.toISOString(),
    ...(withCases ? { cases } : {}),
  };
}

/** Stored golden sets (versioned) and eval runs through the API, under the tenant's RLS. */
export class EvalService {
  constructor(
    private readonly db: Database,
    private readonly opts: { maxCases: number },
  ) {}

  /** Stores the dataset as a new version, unless its cases are unchanged (then the newest is returned). */
  saveDataset(
    principal: Principal,
    body: DatasetBody,
    meta: RequestMeta,
  ): Promise<{ created: boolean; dataset: DatasetSchema }> {
    let parsed: Dataset;
    try {
      parsed = datasetFromCases(body.name, body.cases);
    } catch (err) {
      if (err instanceof DatasetInvalid) throw new InvalidInput(err.message);
      throw err;
    }
    return this.db.withTenant(principal, async (tx) => {
      const latest = await latestDataset(tx, body.name);
      if (latest && latest.content_hash === parsed.hash)
        return { created: false, dataset: datasetView(latest, false) };
      const row = await insertDataset(tx, {
        name: body.name,
        version: (latest?.version ?? 0) + 1,
        cases: parsed.cases,
        hash: parsed.hash,
        createdBy: actorKey(principal),
      });
      await auditSuccess(
        tx,
        principal,
        meta,
        'eval_dataset.created',
        { type: 'eval_dataset', id: row.id },
        { name: row.name, version: row.version, cases: parsed.cases.length },
      );
      return { created: true, dataset: datasetView(row, false) };
    });
  }

  listDatasets(principal: Principal): Promise<DatasetSchema[]> {
    return this.db.withTenant(principal, async (tx) =>
      (await listLatestDatasets(tx)).map((r) => datasetView(r, false)),
    );
  }

  /** A dataset version by id, or the newest version by name, with its cases. */
  getDataset(principal: Principal, idOrName: string): Promise<DatasetSchema> {
    return this.db.withTenant(principal, async (tx) => {
      const row = UUID.test(idOrName)
        ? await datasetById(tx, idOrName)
        : DatasetName.safeParse(idOrName).success
          ? await latestDataset(tx, idOrName)
          : undefined;
      if (!row) throw new NotFound('Eval dataset');
      return datasetView(row, true);
    });
  }

  /**
   * Runs a stored dataset through `client` (the caller's own credential, in-process), gates it,
   * stores and returns the run. It answers when every case is scored (at most maxCases).
   */
  async startRun(
    principal: Principal,
    body: StartRunBody,
    client: RampartClient,
    meta: RequestMeta,
  ): Promise<RunView> {
    const stored = await this.getDataset(principal, body.dataset);
    const cases = stored.cases ?? [];
    if (cases.length > this.opts.maxCases)
      throw new InvalidInput(
        `The dataset has ${cases.length} cases; an API run takes at most ${this.opts.maxCases} (run larger sets with \`rampart eval run\`).`,
      );
    const baseline = body.baselineRunId
      ? (await this.getRun(principal, body.baselineRunId)).result
      : undefined;
    const dataset: Dataset = {
      name: stored.name,
      version: stored.version,
      hash: stored.contentHash,
      cases,
    };
    const result = await runDataset(client, dataset, body);
    const gate: GateVerdict = evaluateGate(result, {
      caseIds: cases.map((c) => c.id),
      thresholds: body.failUnder,
      baseline,
    });
    return this.db.withTenant(principal, async (tx) => {
      const row = await insertRun(tx, {
        datasetId: stored.id,
        passed: gate.ok,
        result: { gate, result },
        createdBy: actorKey(principal),
      });
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action: 'eval_run.created',
        target: { type: 'eval_run', id: row.id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: {
          dataset: stored.name,
          version: stored.version,
          passed: gate.ok,
          score: result.totals.score,
        },
      });
      return {
        id: row.id,
        datasetId: stored.id,
        passed: gate.ok,
        gate,
        result,
        createdAt: row.created_at.toISOString(),
      };
    });
  }

  /**
   * A run, to whoever started it or an admin (knowledge:manage): its outputs quote documents
   * the runner could read, which another member may not.
   */
  getRun(principal: Principal, id: string): Promise<RunView> {
    return this.db.withTenant(principal, async (tx) => {
      const row = await runById(tx, id);
      if (!row) throw new NotFound('Eval run');
      const stored = StoredRun.parse(row.result);
      const mine = row.created_by === actorKey(principal);
      if (!mine && !principal.permissions.has('knowledge:manage'))
        throw new Forbidden(
          'Only who started an eval run, or an admin, may read it.',
          'eval_run_forbidden',
        );
      return {
        id: row.id,
        datasetId: row.dataset_id,
        passed: row.passed,
        ...stored,
        createdAt: row.created_at.toISOString(),
      };
    });
  }
}
