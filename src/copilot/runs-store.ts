import type { OperatorTx, TenantTx } from '../platform/db/database.js';
import type { Json } from './store.js';

/** Runs, their event log and approvals. Visibility (caller or approver) is the RLS policy's. */

export interface RunRow {
  id: string;
  agent_id: string;
  agent: unknown;
  caller_kind: string;
  caller_user_id: string | null;
  caller_key_id: string | null;
  caller_role: string;
  caller_groups: string[];
  status: string;
  input: unknown;
  output: Json | null;
  failure_reason: string | null;
  cancel_requested: boolean;
  steps: number;
  prompt_tokens: string;
  completion_tokens: string;
  cost_usd: string;
  request_hash: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const RUN_COLS = `id, agent_id, agent, caller_kind, caller_user_id, caller_key_id, caller_role, caller_groups,
  status, input, output, failure_reason, cancel_requested, steps, prompt_tokens, completion_tokens,
  cost_usd, request_hash, created_at, updated_at, finished_at`;

export interface NewRun {
  agentId: string;
  agent: unknown;
  callerKind: string;
  callerUserId: string | null;
  callerKeyId: string | null;
  callerRole: string;
  callerGroups: readonly string[];
  input: unknown[];
  idempotencyScope: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
}

export async function insertRun(tx: TenantTx, r: NewRun): Promise<RunRow> {
  const { rows } = await tx.query<RunRow>(
    `INSERT INTO runs (tenant_id, agent_id, agent, caller_kind, caller_user_id, caller_key_id, caller_role,
                       caller_groups, input, idempotency_scope, idempotency_key, request_hash)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8::text[], $9::jsonb, $10, $11, $12) RETURNING ${RUN_COLS}`,
    [
      tx.tenantId,
      r.agentId,
      JSON.stringify(r.agent),
      r.callerKind,
      r.callerUserId,
      r.callerKeyId,
      r.callerRole,
      r.callerGroups,
      JSON.stringify(r.input),
      r.idempotencyScope,
      r.idempotencyKey,
      r.requestHash,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error('run insert returned nothing');
  return row;
}

/**
 * Takes a transaction-scoped lock on a text key; false when another transaction holds it (the
 * same Idempotency-Key is being used by a request still in progress).
 */
export async function tryLock(tx: TenantTx, key: string): Promise<boolean> {
  const { rows } = await tx.query<{ ok: boolean }>(
    `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok`,
    [key],
  );
  return rows[0]?.ok === true;
}

/** Waits for a transaction-scoped lock on a text key. */
export async function lock(tx: TenantTx, key: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [key]);
}

export async function findRunByIdempotencyKey(
  tx: TenantTx,
  scope: string,
  key: string,
): Promise<RunRow | undefined> {
  const { rows } = await tx.query<RunRow>(
    `SELECT ${RUN_COLS} FROM runs WHERE tenant_id = $1 AND idempotency_scope = $2 AND idempotency_key = $3`,
    [tx.tenantId, scope, key],
  );
  return rows[0];
}

/**
 * Runs of the tenant that hold (or wait for) a worker: what the bulkhead counts. Every caller's
 * runs count, not only those this caller sees, hence the SECURITY DEFINER count (0015).
 */
export async function countActiveRuns(tx: TenantTx): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(`SELECT rampart_copilot_active_runs() AS n`);
  return rows[0]?.n ?? 0;
}

export async function getRun(tx: TenantTx, id: string): Promise<RunRow | undefined> {
  const { rows } = await tx.query<RunRow>(
    `SELECT ${RUN_COLS} FROM runs WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export async function listRuns(
  tx: TenantTx,
  f: { status?: string | undefined; agentId?: string | undefined; limit: number },
): Promise<RunRow[]> {
  const { rows } = await tx.query<RunRow>(
    `SELECT ${RUN_COLS} FROM runs
      WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR agent_id = $3)
      ORDER BY created_at DESC, id DESC LIMIT $4`,
    [tx.tenantId, f.status ?? null, f.agentId ?? null, f.limit],
  );
  return rows;
}

/**
 * Takes the run for one job: a run in progress is driven by one job at a time. The same job
 * re-claimed after its worker died takes it over at once; another job only once the lease ran out.
 */
export async function claimRun(
  tx: TenantTx,
  id: string,
  jobId: string,
  leaseMs: number,
): Promise<RunRow | undefined> {
  const { rows } = await tx.query<RunRow>(
    `UPDATE runs SET lease_job = $3, lease_until = now() + make_interval(secs => $4::float8 / 1000),
            status = CASE WHEN status = 'queued' THEN 'running' ELSE status END, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
        AND (lease_job IS NULL OR lease_job = $3 OR lease_until < now())
      RETURNING ${RUN_COLS}`,
    [tx.tenantId, id, jobId, leaseMs],
  );
  return rows[0];
}

export interface RunPatch {
  status?: string;
  output?: unknown;
  failureReason?: string | null;
  addSteps?: number;
  addPromptTokens?: number;
  addCompletionTokens?: number;
  addCostUsd?: number;
  /** Extends the lease by this many ms (the job is still driving the run). */
  renewLeaseMs?: number;
  releaseLease?: boolean;
  finished?: boolean;
  cancelRequested?: boolean;
}

export async function updateRun(tx: TenantTx, id: string, p: RunPatch): Promise<RunRow> {
  const { rows } = await tx.query<RunRow>(
    `UPDATE runs SET
        status = coalesce($3, status),
        output = CASE WHEN $4::boolean THEN $5::jsonb ELSE output END,
        failure_reason = CASE WHEN $6::boolean THEN $7 ELSE failure_reason END,
        steps = steps + $8, prompt_tokens = prompt_tokens + $9, completion_tokens = completion_tokens + $10,
        cost_usd = cost_usd + $11,
        lease_until = CASE WHEN $13::boolean THEN NULL
                           WHEN $12::float8 IS NOT NULL THEN now() + make_interval(secs => $12::float8 / 1000)
                           ELSE lease_until END,
        lease_job = CASE WHEN $13::boolean THEN NULL ELSE lease_job END,
        finished_at = CASE WHEN $14::boolean THEN now() ELSE finished_at END,
        cancel_requested = coalesce($15, cancel_requested),
        updated_at = now()
      WHERE tenant_id = $1 AND id = $2 RETURNING ${RUN_COLS}`,
    [
      tx.tenantId,
      id,
      p.status ?? null,
      'output' in p,
      p.output === undefined ? null : JSON.stringify(p.output),
      'failureReason' in p,
      p.failureReason ?? null,
      p.addSteps ?? 0,
      p.addPromptTokens ?? 0,
      p.addCompletionTokens ?? 0,
      p.addCostUsd ?? 0,
      p.renewLeaseMs ?? null,
      p.releaseLease === true,
      p.finished === true,
      p.cancelRequested ?? null,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error('run vanished during update');
  return row;
}

export interface EventRow {
  seq: number;
  type: string;
  data: unknown;
  created_at: Date;
}

/** Appends an event with the run's next sequence number. */
export async function appendEvent(
  tx: TenantTx,
  runId: string,
  type: string,
  data: Record<string, unknown>,
): Promise<EventRow> {
  const { rows } = await tx.query<EventRow>(
    `INSERT INTO run_events (tenant_id, run_id, seq, type, data)
     SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4::jsonb FROM run_events WHERE run_id = $2
     RETURNING seq, type, data, created_at`,
    [tx.tenantId, runId, type, JSON.stringify(data)],
  );
  const row = rows[0];
  if (!row) throw new Error('event insert returned nothing');
  return row;
}

export async function listEvents(
  tx: TenantTx,
  runId: string,
  afterSeq: number,
  limit = 10_000,
): Promise<EventRow[]> {
  const { rows } = await tx.query<EventRow>(
    `SELECT seq, type, data, created_at FROM run_events
      WHERE tenant_id = $1 AND run_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
    [tx.tenantId, runId, afterSeq, limit],
  );
  return rows;
}

export interface ApprovalRow {
  call_id: string;
  tool: string;
  arguments: unknown;
  approver_role: string;
  distinct_approver: boolean;
  status: string;
  decided_by: string | null;
  reason: string | null;
  created_at: Date;
}

const APPROVAL_COLS = `call_id, tool, arguments, approver_role, distinct_approver, status, decided_by, reason, created_at`;

export async function insertApproval(
  tx: TenantTx,
  runId: string,
  a: {
    callId: string;
    tool: string;
    arguments: unknown;
    approverRole: string;
    distinctApprover: boolean;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO approvals (tenant_id, run_id, call_id, tool, arguments, approver_role, distinct_approver)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) ON CONFLICT (run_id, call_id) DO NOTHING`,
    [
      tx.tenantId,
      runId,
      a.callId,
      a.tool,
      JSON.stringify(a.arguments),
      a.approverRole,
      a.distinctApprover,
    ],
  );
}

export async function getApproval(
  tx: TenantTx,
  runId: string,
  callId: string,
): Promise<ApprovalRow | undefined> {
  const { rows } = await tx.query<ApprovalRow>(
    `SELECT ${APPROVAL_COLS} FROM approvals WHERE tenant_id = $1 AND run_id = $2 AND call_id = $3 FOR UPDATE`,
    [tx.tenantId, runId, callId],
  );
  return rows[0];
}

export async function pendingApprovals(
  tx: TenantTx,
  runIds: string[],
): Promise<(ApprovalRow & { run_id: string })[]> {
  const { rows } = await tx.query<ApprovalRow & { run_id: string }>(
    `SELECT run_id, ${APPROVAL_COLS} FROM approvals
      WHERE tenant_id = $1 AND run_id = ANY($2::uuid[]) AND status = 'pending' ORDER BY created_at`,
    [tx.tenantId, runIds],
  );
  return rows;
}

export async function decideApproval(
  tx: TenantTx,
  runId: string,
  callId: string,
  d: { status: 'approved' | 'denied'; decidedBy: string; reason: string | null },
): Promise<void> {
  await tx.query(
    `UPDATE approvals SET status = $4, decided_by = $5, reason = $6, decided_at = now()
      WHERE tenant_id = $1 AND run_id = $2 AND call_id = $3`,
    [tx.tenantId, runId, callId, d.status, d.decidedBy, d.reason],
  );
}

/** Counts across tenants for the gauges (SECURITY DEFINER, migration 0015): no tenant data. */
export async function copilotCounts(
  op: OperatorTx,
): Promise<{ what: string; n: string | number }[]> {
  const { rows } = await op.query<{ what: string; n: string | number }>(
    `SELECT what, n FROM rampart_copilot_counts()`,
  );
  return rows;
}
