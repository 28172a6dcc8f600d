import type { TenantTx } from '../platform/db/database.js';
import { one } from '../platform/checked.js';

export interface DatasetRow {
  id: string;
  name: string;
  version: number;
  cases: unknown;
  content_hash: string;
  created_at: Date;
}
const DATASET_COLUMNS = 'id, name, version, cases, content_hash, created_at';

/** The newest version of a dataset by name, or undefined. */
export async function latestDataset(tx: TenantTx, name: string): Promise<DatasetRow | undefined> {
  const { rows } = await tx.query<DatasetRow>(
    `SELECT ${DATASET_COLUMNS} FROM eval_datasets WHERE tenant_id = $1 AND name = $2
      ORDER BY version DESC LIMIT 1`,
    [tx.tenantId, name],
  );
  return rows[0];
}

/** A dataset version by id. */
export async function datasetById(tx: TenantTx, id: string): Promise<DatasetRow | undefined> {
  const { rows } = await tx.query<DatasetRow>(
    `SELECT ${DATASET_COLUMNS} FROM eval_datasets WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

/** The newest version of every dataset of the tenant, by name. */
export async function listLatestDatasets(tx: TenantTx): Promise<DatasetRow[]> {
  const { rows } = await tx.query<DatasetRow>(
    `SELECT DISTINCT ON (name) ${DATASET_COLUMNS} FROM eval_datasets WHERE tenant_id = $1
      ORDER BY name, version DESC`,
    [tx.tenantId],
  );
  return rows;
}

/** Stores a dataset version. */
export async function insertDataset(
  tx: TenantTx,
  d: { name: string; version: number; cases: unknown; hash: string; createdBy: string },
): Promise<DatasetRow> {
  const { rows } = await tx.query<DatasetRow>(
    `INSERT INTO eval_datasets (tenant_id, name, version, cases, content_hash, created_by)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${DATASET_COLUMNS}`,
    [tx.tenantId, d.name, d.version, JSON.stringify(d.cases), d.hash, d.createdBy],
  );
  return one(rows, 'dataset');
}

export interface EvalRunRow {
  id: string;
  dataset_id: string;
  passed: boolean;
  created_by: string;
  result: unknown;
  created_at: Date;
}

/** Stores a finished eval run. */
export async function insertRun(
  tx: TenantTx,
  r: { datasetId: string; passed: boolean; result: unknown; createdBy: string },
): Promise<EvalRunRow> {
  const { rows } = await tx.query<EvalRunRow>(
    `INSERT INTO eval_runs (tenant_id, dataset_id, passed, result, created_by)
     VALUES ($1, $2, $3, $4, $5) RETURNING id, dataset_id, passed, result, created_by, created_at`,
    [tx.tenantId, r.datasetId, r.passed, JSON.stringify(r.result), r.createdBy],
  );
  return one(rows, 'eval run');
}

/** An eval run by id. */
export async function runById(tx: TenantTx, id: string): Promise<EvalRunRow | undefined> {
  const { rows } = await tx.query<EvalRunRow>(
    `SELECT id, dataset_id, passed, result, created_by, created_at FROM eval_runs WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}
