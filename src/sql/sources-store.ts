import type { TenantTx } from '../platform/db/database.js';
import type { Envelope } from '../platform/secrets/envelope.js';
import { one } from '../platform/checked.js';

export type SourceType = 'postgres' | 'mysql' | 'sample';

export interface SourceRow {
  id: string;
  tenant_id: string;
  name: string;
  type: SourceType;
  connection: unknown;
  schemas: string[];
  tables: string[] | null;
  description: string;
  model_alias: string;
  annotations: unknown;
  policies: unknown;
  catalogue_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface SourceSecretRow extends SourceRow {
  credential_key_id: string | null;
  credential_wrapped_key: Uint8Array | null;
  credential_iv: Uint8Array | null;
  credential_ciphertext: Uint8Array | null;
  credential_tag: Uint8Array | null;
}

export interface CatalogueRow {
  catalogue: Record<string, unknown> | null;
  catalogue_at: Date | null;
}

const COLUMNS = `id, tenant_id, name, type, connection, schemas, tables, description, model_alias,
  annotations, policies, catalogue_at, created_at, updated_at`;
const SECRET_COLUMNS = `${COLUMNS}, credential_key_id, credential_wrapped_key, credential_iv,
  credential_ciphertext, credential_tag`;

/** The stored envelope of a source's password, if it has one. */
export function envelopeOf(r: SourceSecretRow): Envelope | undefined {
  if (
    r.credential_key_id === null ||
    !r.credential_wrapped_key ||
    !r.credential_iv ||
    !r.credential_ciphertext ||
    !r.credential_tag
  )
    return undefined;
  return {
    keyId: r.credential_key_id,
    wrappedKey: Buffer.from(r.credential_wrapped_key),
    iv: Buffer.from(r.credential_iv),
    ciphertext: Buffer.from(r.credential_ciphertext),
    tag: Buffer.from(r.credential_tag),
  };
}

export interface NewSource {
  id: string;
  name: string;
  type: SourceType;
  connection: Record<string, unknown>;
  schemas: string[];
  tables: string[] | null;
  description: string;
  modelAlias: string;
}

export async function insertSource(
  tx: TenantTx,
  s: NewSource,
  env: Envelope | undefined,
): Promise<SourceRow> {
  const { rows } = await tx.query<SourceRow>(
    `INSERT INTO sql_sources (id, tenant_id, name, type, connection, schemas, tables, description,
        model_alias, credential_key_id, credential_wrapped_key, credential_iv, credential_ciphertext,
        credential_tag)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6::text[], $7::text[], $8, $9, $10, $11, $12, $13, $14)
     RETURNING ${COLUMNS}`,
    [
      s.id,
      tx.tenantId,
      s.name,
      s.type,
      JSON.stringify(s.connection),
      s.schemas,
      s.tables,
      s.description,
      s.modelAlias,
      env?.keyId ?? null,
      env?.wrappedKey ?? null,
      env?.iv ?? null,
      env?.ciphertext ?? null,
      env?.tag ?? null,
    ],
  );
  return one(rows);
}

export async function listSources(
  tx: TenantTx,
): Promise<(SourceRow & { credential_key_id: string | null })[]> {
  const { rows } = await tx.query<SourceRow & { credential_key_id: string | null }>(
    `SELECT ${COLUMNS}, credential_key_id FROM sql_sources WHERE tenant_id = $1 ORDER BY name`,
    [tx.tenantId],
  );
  return rows;
}

/** A source by id or by name (the API accepts either where it names a source). */
export async function findSource(tx: TenantTx, ref: string): Promise<SourceSecretRow | undefined> {
  const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
  const { rows } = await tx.query<SourceSecretRow>(
    `SELECT ${SECRET_COLUMNS} FROM sql_sources WHERE tenant_id = $1 AND ${byId ? 'id = $2::uuid' : 'name = $2'}`,
    [tx.tenantId, ref],
  );
  return rows[0];
}

export interface SourceChanges {
  name?: string | undefined;
  connection?: Record<string, unknown> | undefined;
  schemas?: string[] | undefined;
  tables?: string[] | null | undefined;
  description?: string | undefined;
  modelAlias?: string | undefined;
  annotations?: unknown;
  policies?: unknown;
}

export async function updateSource(
  tx: TenantTx,
  id: string,
  c: SourceChanges,
  env: Envelope | undefined,
): Promise<SourceRow> {
  const { rows } = await tx.query<SourceRow>(
    `UPDATE sql_sources SET
       name = coalesce($3, name),
       connection = coalesce($4::jsonb, connection),
       schemas = coalesce($5::text[], schemas),
       tables = CASE WHEN $6::boolean THEN $7::text[] ELSE tables END,
       description = coalesce($8, description),
       model_alias = coalesce($9, model_alias),
       annotations = coalesce($10::jsonb, annotations),
       policies = coalesce($11::jsonb, policies),
       credential_key_id = CASE WHEN $12::boolean THEN $13 ELSE credential_key_id END,
       credential_wrapped_key = CASE WHEN $12::boolean THEN $14 ELSE credential_wrapped_key END,
       credential_iv = CASE WHEN $12::boolean THEN $15 ELSE credential_iv END,
       credential_ciphertext = CASE WHEN $12::boolean THEN $16 ELSE credential_ciphertext END,
       credential_tag = CASE WHEN $12::boolean THEN $17 ELSE credential_tag END,
       catalogue = CASE WHEN $4::jsonb IS NOT NULL OR $5::text[] IS NOT NULL OR $6::boolean
                        THEN NULL ELSE catalogue END,
       catalogue_at = CASE WHEN $4::jsonb IS NOT NULL OR $5::text[] IS NOT NULL OR $6::boolean
                        THEN NULL ELSE catalogue_at END,
       updated_at = clock_timestamp()
     WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      id,
      c.name ?? null,
      c.connection ? JSON.stringify(c.connection) : null,
      c.schemas ?? null,
      c.tables !== undefined,
      c.tables ?? null,
      c.description ?? null,
      c.modelAlias ?? null,
      c.annotations === undefined ? null : JSON.stringify(c.annotations),
      c.policies === undefined ? null : JSON.stringify(c.policies),
      env !== undefined,
      env?.keyId ?? null,
      env?.wrappedKey ?? null,
      env?.iv ?? null,
      env?.ciphertext ?? null,
      env?.tag ?? null,
    ],
  );
  return one(rows);
}

export async function deleteSource(tx: TenantTx, id: string): Promise<void> {
  await tx.query('DELETE FROM sql_sources WHERE tenant_id = $1 AND id = $2', [tx.tenantId, id]);
}

export async function readCatalogue(tx: TenantTx, id: string): Promise<CatalogueRow | undefined> {
  const { rows } = await tx.query<CatalogueRow>(
    'SELECT catalogue, catalogue_at FROM sql_sources WHERE tenant_id = $1 AND id = $2',
    [tx.tenantId, id],
  );
  return rows[0];
}

export async function saveCatalogue(tx: TenantTx, id: string, catalogue: unknown): Promise<Date> {
  const { rows } = await tx.query<{ catalogue_at: Date }>(
    `UPDATE sql_sources SET catalogue = $3::jsonb, catalogue_at = clock_timestamp()
     WHERE tenant_id = $1 AND id = $2 RETURNING catalogue_at`,
    [tx.tenantId, id, JSON.stringify(catalogue)],
  );
  return one(rows).catalogue_at;
}
