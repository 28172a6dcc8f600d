import type { TenantTx } from '../../platform/db/database.js';
import { one } from '../../platform/checked.js';

export interface Target {
  provider: string;
  model: string;
  weight: number;
}
export interface Fallback {
  provider: string;
  model: string;
}

/** A route's exact-match response cache (migration 0008); null: off unless a request asks. */
export interface RouteCache {
  ttlSeconds: number;
}

export interface RouteRow {
  id: string;
  alias: string;
  targets: Target[];
  fallbacks: Fallback[];
  cache: RouteCache | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, alias, targets, fallbacks, cache, created_at, updated_at';

export interface RouteWrite {
  alias: string;
  targets: Target[];
  fallbacks: Fallback[];
  cache?: RouteCache | null | undefined;
}

const cacheParam = (c: RouteCache | null | undefined) => (c ? JSON.stringify(c) : null);

export async function insertRoute(tx: TenantTx, r: RouteWrite): Promise<RouteRow> {
  const { rows } = await tx.query<RouteRow>(
    `INSERT INTO model_routes (tenant_id, alias, targets, fallbacks, cache)
     VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb) RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      r.alias,
      JSON.stringify(r.targets),
      JSON.stringify(r.fallbacks),
      cacheParam(r.cache),
    ],
  );
  return one(rows);
}

/** Replaces a route (PUT semantics: a body without `cache` turns route-level caching off). */
export async function updateRoute(tx: TenantTx, r: RouteWrite): Promise<RouteRow | undefined> {
  const { rows } = await tx.query<RouteRow>(
    `UPDATE model_routes SET targets = $3::jsonb, fallbacks = $4::jsonb, cache = $5::jsonb,
            updated_at = now()
      WHERE tenant_id = $1 AND alias = $2 RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      r.alias,
      JSON.stringify(r.targets),
      JSON.stringify(r.fallbacks),
      cacheParam(r.cache),
    ],
  );
  return rows[0];
}

export async function listRoutes(tx: TenantTx): Promise<RouteRow[]> {
  const { rows } = await tx.query<RouteRow>(
    `SELECT ${COLUMNS} FROM model_routes WHERE tenant_id = $1 ORDER BY alias`,
    [tx.tenantId],
  );
  return rows;
}

export async function getRoute(tx: TenantTx, alias: string): Promise<RouteRow | undefined> {
  const { rows } = await tx.query<RouteRow>(
    `SELECT ${COLUMNS} FROM model_routes WHERE tenant_id = $1 AND alias = $2`,
    [tx.tenantId, alias],
  );
  return rows[0];
}

/** The route for a requested model: its own alias first, else the '*' pass-through route. */
export async function findRouteForModel(
  tx: TenantTx,
  model: string,
): Promise<RouteRow | undefined> {
  const { rows } = await tx.query<RouteRow>(
    `SELECT ${COLUMNS} FROM model_routes WHERE tenant_id = $1 AND alias IN ($2, '*')
      ORDER BY (alias = '*') LIMIT 1`,
    [tx.tenantId, model],
  );
  return rows[0];
}

export async function deleteRoute(tx: TenantTx, alias: string): Promise<boolean> {
  const r = await tx.query(`DELETE FROM model_routes WHERE tenant_id = $1 AND alias = $2`, [
    tx.tenantId,
    alias,
  ]);
  return r.rowCount > 0;
}

/** Aliases whose targets or fallbacks name this provider. */
export async function routesUsingProvider(tx: TenantTx, provider: string): Promise<string[]> {
  const { rows } = await tx.query<{ alias: string }>(
    `SELECT alias FROM model_routes WHERE tenant_id = $1
        AND (targets @> $2::jsonb OR fallbacks @> $2::jsonb) ORDER BY alias`,
    [tx.tenantId, JSON.stringify([{ provider }])],
  );
  return rows.map((r) => r.alias);
}
