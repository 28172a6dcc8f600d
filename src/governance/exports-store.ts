import type { TenantTx } from '../platform/db/database.js';

export interface ExportRow {
  id: string;
  tenant_id: string;
  scope: 'user' | 'tenant';
  subject_user_id: string | null;
  requested_by: string;
  status: 'queued' | 'completed' | 'failed';
  failure_reason: string | null;
  archive_bytes: string | null;
  archive_sha256: string | null;
  files: number | null;
  created_at: Date;
  completed_at: Date | null;
}

export async function insertExport(
  tx: TenantTx,
  r: { scope: 'user' | 'tenant'; subjectUserId: string | null; requestedBy: string },
): Promise<ExportRow> {
  const { rows } = await tx.query<ExportRow>(
    `INSERT INTO subject_exports (tenant_id, scope, subject_user_id, requested_by)
     VALUES ($1, $2, $3, $4) RETURNING *`,
    [tx.tenantId, r.scope, r.subjectUserId, r.requestedBy],
  );
  const row = rows[0];
  if (!row) throw new Error('insert returned no export row');
  return row;
}

export async function findExport(tx: TenantTx, id: string): Promise<ExportRow | undefined> {
  const { rows } = await tx.query<ExportRow>(
    'SELECT * FROM subject_exports WHERE tenant_id = $1 AND id = $2',
    [tx.tenantId, id],
  );
  return rows[0];
}

/** The columns (and whether a tenant_id is among them) of the tables an export reads. */
export async function tableColumns(
  tx: TenantTx,
  tables: readonly string[],
): Promise<Map<string, { name: string; type: string }[]>> {
  const { rows } = await tx.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT table_name, column_name, data_type FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ANY($1::text[])
      ORDER BY table_name, ordinal_position`,
    [tables],
  );
  const out = new Map<string, { name: string; type: string }[]>();
  for (const r of rows) {
    const list = out.get(r.table_name) ?? [];
    list.push({ name: r.column_name, type: r.data_type });
    out.set(r.table_name, list);
  }
  return out;
}

/**
 * One table's rows for an export: all of the tenant's, or one person's by the data map's filter
 * ($1 user id, $2 e-mail, $3 audit pseudonym). Table and column names come from the data map and
 * the catalogue, never from a request.
 */
export async function exportRows(
  tx: TenantTx,
  q: {
    table: string;
    columns: string[];
    tenantColumn: boolean;
    where: string | null;
    person: { userId: string; email: string; pseudonym: string | null } | null;
  },
): Promise<Record<string, unknown>[]> {
  const cols = q.columns.map((c) => `"${c}"`).join(', ');
  const params: unknown[] = [];
  const where: string[] = [];
  if (q.person) {
    params.push(q.person.userId, q.person.email, q.person.pseudonym ?? '');
    // Declares the three parameters' types whichever of them the filter uses.
    where.push('coalesce($1::uuid::text, $2::text, $3::text) IS NOT NULL');
    where.push(`(${q.where ?? 'false'})`);
  }
  if (q.tenantColumn) {
    params.push(tx.tenantId);
    where.push(`tenant_id = $${params.length}`);
  }
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT ${cols} FROM "${q.table}"${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
    params,
  );
  return rows;
}

/** The original files of the documents a filter selects (same parameters as exportRows). */
export async function documentFiles(
  tx: TenantTx,
  person: { userId: string } | null,
): Promise<{ id: string; title: string; content: Buffer }[]> {
  const { rows } = await tx.query<{ id: string; title: string; content: Buffer }>(
    `SELECT d.id, d.title, b.content FROM documents d JOIN document_blobs b ON b.document_id = d.id
      WHERE d.tenant_id = $1
        ${person ? 'AND (d.uploaded_by_user = $2 OR position($2::text in d.created_by) > 0)' : ''}
      ORDER BY d.created_at, d.id`,
    person ? [tx.tenantId, person.userId] : [tx.tenantId],
  );
  return rows;
}

export async function storeArchive(
  tx: TenantTx,
  id: string,
  a: { content: Buffer; sha256: string; files: number },
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `INSERT INTO export_archives (export_id, tenant_id, content) VALUES ($1, $2, $3)
     ON CONFLICT (export_id) DO NOTHING`,
    [id, tx.tenantId, a.content],
  );
  if (rowCount === 0) return false;
  await tx.query(
    `UPDATE subject_exports SET status = 'completed', archive_bytes = $3, archive_sha256 = $4,
            files = $5, completed_at = now()
      WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id, a.content.length, a.sha256, a.files],
  );
  return true;
}

export async function failExport(tx: TenantTx, id: string, reason: string): Promise<void> {
  await tx.query(
    `UPDATE subject_exports SET status = 'failed', failure_reason = $3 WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id, reason.slice(0, 1000)],
  );
}

export async function readArchive(tx: TenantTx, id: string): Promise<Buffer | undefined> {
  const { rows } = await tx.query<{ content: Buffer }>(
    'SELECT content FROM export_archives WHERE tenant_id = $1 AND export_id = $2',
    [tx.tenantId, id],
  );
  return rows[0]?.content;
}

/** Whether this user is a member of tx's tenant (and their e-mail address when so). */
export async function memberOf(
  tx: TenantTx,
  userId: string,
): Promise<{ email: string; role: string } | undefined> {
  const { rows } = await tx.query<{ email: string; role: string }>(
    `SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.tenant_id = $1 AND m.user_id = $2`,
    [tx.tenantId, userId],
  );
  return rows[0];
}
