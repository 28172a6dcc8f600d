import type { TenantTx } from '../platform/db/database.js';

/** What an erasure acts on, as its record holds it while it runs. */
export interface ErasureTarget {
  id: string;
  userId: string;
  email: string | null;
  /** Replaces the person in rows that stay (usage totals, others' records). */
  pseudonym: string;
  documents: 'delete' | 'transfer';
  transferTo: string | null;
}

export type Counts = Record<string, number>;

/** The legal hold that stops erasing a person: one on the tenant or on the person, if any. */
export async function holdOn(tx: TenantTx, userId: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id FROM legal_holds
      WHERE tenant_id = $1 AND (scope = 'tenant' OR (scope = 'user' AND subject_id = $2::uuid))
      LIMIT 1`,
    [tx.tenantId, userId],
  );
  return rows[0]?.id;
}

async function count(tx: TenantTx, sql: string, params: unknown[]): Promise<number> {
  const { rowCount } = await tx.query(sql, params);
  return rowCount;
}

/**
 * The steps of an erasure, in order, each one transaction (see DATA_MAP in data-map.ts for what
 * each table holds). Access goes first, so the person can start nothing new while the rest runs.
 * Every step is idempotent: run again, it finds nothing left and counts 0.
 */
export const ERASURE_STEPS: ReadonlyArray<{
  name: string;
  run(tx: TenantTx, e: ErasureTarget): Promise<Counts>;
}> = [
  {
    name: 'access',
    async run(tx, e) {
      const p = [tx.tenantId, e.userId];
      return {
        oauth_authorization_codes: await count(
          tx,
          'DELETE FROM oauth_authorization_codes WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
        refresh_tokens: await count(
          tx,
          `DELETE FROM refresh_tokens WHERE tenant_id = $1
              AND family_id IN (SELECT id FROM token_families WHERE tenant_id = $1 AND user_id = $2)`,
          p,
        ),
        token_families: await count(
          tx,
          'DELETE FROM token_families WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
        sessions: await count(tx, 'DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2', p),
        api_keys: await count(tx, 'DELETE FROM api_keys WHERE tenant_id = $1 AND user_id = $2', p),
        local_credentials: await count(
          tx,
          'DELETE FROM local_credentials WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
        user_identities: await count(
          tx,
          'DELETE FROM user_identities WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
        invitations: e.email
          ? await count(tx, 'DELETE FROM invitations WHERE tenant_id = $1 AND email = $2', [
              tx.tenantId,
              e.email,
            ])
          : 0,
      };
    },
  },
  {
    name: 'documents',
    async run(tx, e): Promise<Counts> {
      const mine = `tenant_id = $1 AND (uploaded_by_user = $2 OR position($2::text in created_by) > 0)`;
      if (e.documents === 'transfer' && e.transferTo) {
        return {
          documents_transferred: await count(
            tx,
            `UPDATE documents SET uploaded_by_user = $3::uuid, uploaded_by_key = NULL,
                    created_by = 'user:' || $3::uuid::text, updated_at = now() WHERE ${mine}`,
            [tx.tenantId, e.userId, e.transferTo],
          ),
        };
      }
      const p = [tx.tenantId, e.userId];
      // Cached embeddings are keyed by content: those only these documents' chunks used go too.
      const embeddingCache = await count(
        tx,
        `DELETE FROM embedding_cache c WHERE c.tenant_id = $1
            AND c.content_hash IN (
              SELECT k.content_hash FROM chunks k JOIN documents d ON d.id = k.document_id
               WHERE d.tenant_id = $1 AND (d.uploaded_by_user = $2 OR position($2::text in d.created_by) > 0))
            AND NOT EXISTS (
              SELECT 1 FROM chunks o JOIN documents od ON od.id = o.document_id
               WHERE o.tenant_id = $1 AND o.content_hash = c.content_hash
                 AND od.uploaded_by_user IS DISTINCT FROM $2::uuid
                 AND position($2::text in od.created_by) = 0)`,
        p,
      );
      const terms = await count(
        tx,
        `DELETE FROM chunk_terms WHERE tenant_id = $1
            AND document_id IN (SELECT id FROM documents WHERE ${mine})`,
        p,
      );
      const chunks = await count(
        tx,
        `DELETE FROM chunks WHERE tenant_id = $1
            AND document_id IN (SELECT id FROM documents WHERE ${mine})`,
        p,
      );
      const blobs = await count(
        tx,
        `DELETE FROM document_blobs WHERE tenant_id = $1
            AND document_id IN (SELECT id FROM documents WHERE ${mine})`,
        p,
      );
      const documents = await count(tx, `DELETE FROM documents WHERE ${mine}`, p);
      return {
        documents,
        document_blobs: blobs,
        chunks,
        chunk_terms: terms,
        embedding_cache: embeddingCache,
      };
    },
  },
  {
    name: 'runs',
    async run(tx, e) {
      const p = [tx.tenantId, e.userId];
      const own = `run_id IN (SELECT id FROM runs WHERE tenant_id = $1 AND caller_user_id = $2)`;
      return {
        request_records: await count(
          tx,
          'DELETE FROM request_records WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
        run_events: await count(tx, `DELETE FROM run_events WHERE tenant_id = $1 AND ${own}`, p),
        approvals: await count(tx, `DELETE FROM approvals WHERE tenant_id = $1 AND ${own}`, p),
        runs: await count(tx, 'DELETE FROM runs WHERE tenant_id = $1 AND caller_user_id = $2', p),
      };
    },
  },
  {
    name: 'records',
    async run(tx, e) {
      const p = [tx.tenantId, e.userId, e.pseudonym];
      const swap = (table: string, column: string): Promise<number> =>
        count(
          tx,
          `UPDATE ${table} SET ${column} = replace(${column}, $2::text, $3::text)
            WHERE tenant_id = $1 AND position($2::text in ${column}) > 0`,
          p,
        );
      return {
        usage_events: await count(
          tx,
          'UPDATE usage_events SET user_id = $3 WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
        answer_requests: await count(
          tx,
          'UPDATE answer_requests SET user_id = $3 WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
        feedback: await swap('feedback', 'rated_by'),
        approvals_decided: await swap('approvals', 'decided_by'),
        api_keys_created: await swap('api_keys', 'created_by'),
        invitations_created: await swap('invitations', 'created_by'),
        scim_tokens: await swap('scim_tokens', 'created_by'),
        eval_datasets: await swap('eval_datasets', 'created_by'),
        eval_runs: await swap('eval_runs', 'created_by'),
        subject_exports_requested: await swap('subject_exports', 'requested_by'),
        subject_erasures_requested: await swap('subject_erasures', 'requested_by'),
        retention_policies: await swap('retention_policies', 'updated_by'),
        legal_holds_created: await swap('legal_holds', 'created_by'),
        // The read model follows the ledger: the same pseudonym, so reconcile still matches.
        usage_rollups: await count(
          tx,
          'UPDATE usage_rollups SET user_id = $3 WHERE tenant_id = $1 AND user_id = $2',
          p,
        ),
      };
    },
  },
  {
    name: 'connections',
    async run(tx, e) {
      // A person's own MCP connections are visible only as that person (RLS on app.user_id):
      // the step reads them as the person for the length of two statements, then restores.
      const before = await tx.query<{ v: string | null }>(
        "SELECT current_setting('app.user_id', true) AS v",
      );
      await tx.query("SELECT set_config('app.user_id', $1, true)", [e.userId]);
      const p = [tx.tenantId, e.userId];
      const flows = await count(
        tx,
        'DELETE FROM mcp_oauth_flows WHERE tenant_id = $1 AND user_id = $2',
        p,
      );
      const connections = await count(
        tx,
        'DELETE FROM mcp_user_connections WHERE tenant_id = $1 AND user_id = $2',
        p,
      );
      await tx.query("SELECT set_config('app.user_id', $1, true)", [before.rows[0]?.v ?? '']);
      return { mcp_oauth_flows: flows, mcp_user_connections: connections };
    },
  },
  {
    name: 'traces',
    async run(tx, e) {
      // Queue rows and webhook messages are copies made for delivery: one naming the person goes.
      const names = `(position($2::text in {c}) > 0 OR ($3::text <> '' AND position($3::text in lower({c})) > 0))`;
      const p = [tx.tenantId, e.userId, e.email ?? ''];
      const attempts = await count(
        tx,
        `DELETE FROM webhook_attempts WHERE tenant_id = $1 AND delivery_id IN (
           SELECT id FROM webhook_deliveries WHERE tenant_id = $1 AND ${names.replaceAll('{c}', 'body')})`,
        p,
      );
      return {
        webhook_attempts: attempts,
        webhook_deliveries: await count(
          tx,
          `DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND ${names.replaceAll('{c}', 'body')}`,
          p,
        ),
        jobs: await count(
          tx,
          `DELETE FROM jobs WHERE tenant_id = $1 AND state <> 'running'
              AND ${names.replaceAll('{c}', 'payload::text')}`,
          p,
        ),
        // Archives are copies too: the person's own, and tenant exports made before (they hold
        // the person's rows). Their records go with them.
        subject_exports: await count(
          tx,
          `DELETE FROM subject_exports WHERE tenant_id = $1 AND (subject_user_id = $2 OR scope = 'tenant')`,
          [tx.tenantId, e.userId],
        ),
      };
    },
  },
  {
    name: 'membership',
    async run(tx, e) {
      const p = [tx.tenantId, e.userId];
      const groupMembers = await count(
        tx,
        'DELETE FROM group_members WHERE tenant_id = $1 AND user_id = $2',
        p,
      );
      const memberships = await count(
        tx,
        'DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2',
        p,
      );
      const { rows } = await tx.query<{ n: number }>('SELECT rampart_forget_user($1) AS n', [
        e.userId,
      ]);
      return { group_members: groupMembers, memberships, users: Number(rows[0]?.n ?? 0) };
    },
  },
];

/** Other erasure records that still name the person (an earlier erasure, a transfer target). */
export async function clearErasureRecords(tx: TenantTx, e: ErasureTarget): Promise<number> {
  const a = await count(
    tx,
    `UPDATE subject_erasures SET user_id = NULL, email = NULL
      WHERE tenant_id = $1 AND user_id = $2 AND id <> $3 AND status IN ('completed', 'failed')`,
    [tx.tenantId, e.userId, e.id],
  );
  const b = await count(
    tx,
    'UPDATE subject_erasures SET transfer_to = NULL WHERE tenant_id = $1 AND transfer_to = $2',
    [tx.tenantId, e.userId],
  );
  return a + b;
}

export interface ErasureRow {
  id: string;
  tenant_id: string;
  user_id: string | null;
  email: string | null;
  pseudonym: string;
  documents: 'delete' | 'transfer';
  transfer_to: string | null;
  requested_by: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  failure_reason: string | null;
  steps: string[];
  counts: Counts;
  created_at: Date;
  completed_at: Date | null;
}

export async function insertErasure(
  tx: TenantTx,
  r: {
    userId: string;
    email: string | null;
    documents: 'delete' | 'transfer';
    transferTo: string | null;
    requestedBy: string;
  },
): Promise<ErasureRow> {
  const { rows } = await tx.query<ErasureRow>(
    `INSERT INTO subject_erasures (tenant_id, user_id, email, documents, transfer_to, requested_by)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [tx.tenantId, r.userId, r.email, r.documents, r.transferTo, r.requestedBy],
  );
  const row = rows[0];
  if (!row) throw new Error('insert returned no erasure row');
  return row;
}

export async function findErasure(tx: TenantTx, id: string): Promise<ErasureRow | undefined> {
  const { rows } = await tx.query<ErasureRow>(
    'SELECT * FROM subject_erasures WHERE tenant_id = $1 AND id = $2',
    [tx.tenantId, id],
  );
  return rows[0];
}

/** Records a finished step and the counts so far (the step's added), in the step's own transaction. */
export async function recordStep(
  tx: TenantTx,
  id: string,
  step: string,
  counts: Counts,
): Promise<void> {
  await tx.query(
    `UPDATE subject_erasures SET status = 'running', steps = array_append(steps, $3), counts = $4::jsonb
      WHERE tenant_id = $1 AND id = $2 AND NOT ($3 = ANY(steps))`,
    [tx.tenantId, id, step, JSON.stringify(counts)],
  );
}

/** Completes an erasure: the record keeps its counts and pseudonym and forgets the person. */
export async function completeErasure(tx: TenantTx, id: string): Promise<void> {
  await tx.query(
    `UPDATE subject_erasures SET status = 'completed', user_id = NULL, email = NULL, completed_at = now()
      WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
}

export async function failErasure(tx: TenantTx, id: string, reason: string): Promise<void> {
  await tx.query(
    `UPDATE subject_erasures SET status = 'failed', failure_reason = $3 WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id, reason.slice(0, 1000)],
  );
}

/** Legacy audit events (written before pseudonyms, decision 019) that still name the person. */
export async function legacyAuditMentions(tx: TenantTx, e: ErasureTarget): Promise<number> {
  const { rows } = await tx.query<{ n: string }>(
    `SELECT count(*) AS n FROM audit_events WHERE tenant_id = $1
        AND (actor_id = $2::text OR target_id = $2::text OR position($2::text in details::text) > 0
             OR ($3::text <> '' AND position($3::text in details::text) > 0))`,
    [tx.tenantId, e.userId, e.email ?? ''],
  );
  return Number(rows[0]?.n ?? 0);
}

/** The member's e-mail address (the job needs it after the membership is gone). */
export async function memberEmail(tx: TenantTx, userId: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ email: string }>(
    `SELECT u.email FROM users u JOIN memberships m ON m.user_id = u.id
      WHERE m.tenant_id = $1 AND u.id = $2`,
    [tx.tenantId, userId],
  );
  return rows[0]?.email;
}
