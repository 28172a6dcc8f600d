import { withQuota, type QuotaGate } from '../platform/quota.js';
import { createHash } from 'node:crypto';
import { appendAuditEvent } from '../audit/service.js';
import { mayGrant, isRole } from '../identity/index.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import {
  AppError,
  Conflict,
  Forbidden,
  InvalidInput,
  NotFound,
  RateLimited,
} from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { enqueueJob } from '../platform/queue/queue.js';
import { agentView } from './definitions.js';
import type { RunDelta, RunEventBus } from './events.js';
import { OutboundQueue } from './realtime/outbound-queue.js';
import type { CopilotMetrics } from './metrics.js';
import { RUN_JOB, type AgentSnapshot, type RunJobPayload } from './run-job.js';
import {
  appendEvent,
  countActiveRuns,
  decideApproval,
  findRunByIdempotencyKey,
  getApproval,
  getRun,
  insertRun,
  listEvents,
  listRuns,
  lock,
  pendingApprovals,
  tryLock,
  updateRun,
  type EventRow,
  type RunRow,
} from './runs-store.js';
import { getAgent } from './store.js';
import {
  TERMINAL,
  RunStatus,
  type CreateRunBody,
  type DecisionBody,
  type RunEventView,
  type RunView,
} from './schemas.js';

export interface RunServiceOptions {
  /** Most runs of one tenant queued or running at once (awaiting approval does not count). */
  maxConcurrentRunsPerTenant: number;
  /** Attempts of a run's job before the run fails (each resumes from the event log). */
  maxJobAttempts: number;
  /** How often a stream re-reads the log when no notification arrived. */
  streamPollMs: number;
  /** The plan's agentRunsPerMonth quota (reserved before the run is created). */
  quotas?: QuotaGate | undefined;
  /** Token deltas an SSE stream holds for a slow reader before dropping the oldest. */
  deltaQueueMax?: number;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function eventView(e: EventRow): RunEventView {
  return { seq: e.seq, type: e.type, data: e.data, createdAt: e.created_at.toISOString() };
}

/** The SSE frame of one event: its sequence number is the event id a client resumes from. */
export function sseFrame(e: RunEventView): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

const afterSeqOf = (frame: string): number => Number(/"afterSeq":(\d+)/.exec(frame)?.[1] ?? 0);

/** The SSE frame of a token delta: no `id:` (a delta is not in the log; resuming skips it). */
export function sseDeltaFrame(runId: string, d: RunDelta): string {
  return `event: delta\ndata: ${JSON.stringify({ runId, ...d })}\n\n`;
}

/** Creating, reading, approving and cancelling runs; the loop itself is the job (runner.ts). */
export class RunService {
  constructor(
    private readonly db: Database,
    private readonly bus: RunEventBus,
    private readonly metrics: CopilotMetrics,
    private readonly opts: RunServiceOptions,
  ) {}

  async #view(tx: TenantTx, runs: RunRow[]): Promise<RunView[]> {
    const pending = runs.length
      ? await pendingApprovals(
          tx,
          runs.map((r) => r.id),
        )
      : [];
    return runs.map((r) => ({
      id: r.id,
      agentId: r.agent_id,
      status: RunStatus.parse(r.status),
      output: r.output,
      failureReason: r.failure_reason,
      usage: {
        promptTokens: Number(r.prompt_tokens),
        completionTokens: Number(r.completion_tokens),
        costUsd: Number(r.cost_usd),
      },
      steps: r.steps,
      pendingApprovals: pending
        .filter((a) => a.run_id === r.id)
        .map((a) => ({ callId: a.call_id, tool: a.tool, arguments: a.arguments })),
      startedBy:
        r.caller_kind === 'user'
          ? { type: 'user' as const, id: r.caller_user_id, role: r.caller_role }
          : { type: 'api_key' as const, id: r.caller_key_id, role: r.caller_role },
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
      finishedAt: r.finished_at ? r.finished_at.toISOString() : null,
    }));
  }

  async #one(tx: TenantTx, run: RunRow): Promise<RunView> {
    const [view] = await this.#view(tx, [run]);
    if (!view) throw new NotFound('Run');
    return view;
  }

  /**
   * Creates a run and enqueues its first job in one transaction. With an Idempotency-Key: the
   * same key and body give the same run (`created: false`), another body a 422, and a request
   * with the key still in progress a 409.
   */
  async create(
    p: Principal,
    agentId: string,
    body: CreateRunBody,
    idempotencyKey: string | undefined,
  ): Promise<{ run: RunView; created: boolean }> {
    if (p.kind === 'service' || (!p.userId && !p.keyId))
      throw new Forbidden('Runs are started with an API key or a user session.');
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey))
      throw new InvalidInput('Idempotency-Key must be 1-255 visible ASCII characters.', {
        errors: [{ field: 'headers.idempotency-key', message: 'invalid' }],
      });
    const input =
      typeof body.input === 'string'
        ? [{ role: 'user' as const, content: body.input }]
        : body.input;
    const scope = p.userId ? `user:${p.userId}` : `key:${p.keyId ?? ''}`;
    const requestHash = createHash('sha256')
      .update(JSON.stringify({ agentId, input }))
      .digest('hex');
    const result = await withQuota(
      this.opts.quotas,
      p,
      ['agentRuns'],
      () => ({ agentRuns: 1 }),
      () => this.#insert(p, agentId, idempotencyKey, scope, input, requestHash),
      (r) => ({ agentRuns: r.created ? 1 : 0 }),
    );
    if (result.created) this.metrics.runs.inc({ status: 'queued' });
    return result;
  }

  async #insert(
    p: Principal,
    agentId: string,
    idempotencyKey: string | undefined,
    scope: string,
    input: unknown[],
    requestHash: string,
  ): Promise<{ run: RunView; created: boolean }> {
    return this.db.withTenant(p, async (tx) => {
      if (idempotencyKey !== undefined) {
        if (!(await tryLock(tx, `copilot-idem:${tx.tenantId}:${scope}:${idempotencyKey}`)))
          throw new Conflict(
            'A request with this Idempotency-Key is still being processed.',
            'idempotency_key_in_use',
          );
        const existing = await findRunByIdempotencyKey(tx, scope, idempotencyKey);
        if (existing) {
          if (existing.request_hash !== requestHash)
            throw new AppError(
              422,
              'idempotency_key_reused',
              'This Idempotency-Key was used with a different request body.',
            );
          return { run: await this.#one(tx, existing), created: false };
        }
      }
      const agent = await getAgent(tx, agentId);
      if (!agent) throw new NotFound('Agent');
      const a = agentView(agent);
      // One tenant at a time counts and inserts, so the bulkhead holds under concurrency.
      await lock(tx, `copilot-bulkhead:${tx.tenantId}`);
      if ((await countActiveRuns(tx)) >= this.opts.maxConcurrentRunsPerTenant)
        throw new RateLimited(
          `This tenant already has ${this.opts.maxConcurrentRunsPerTenant} runs in progress; try again when one finishes.`,
          5,
        );
      const snapshot: AgentSnapshot = {
        name: a.name,
        instructions: a.instructions,
        model: a.model,
        tools: a.tools,
        maxSteps: a.maxSteps,
        budgetUsd: a.budgetUsd,
        outputSchema: a.outputSchema,
      };
      const run = await insertRun(tx, {
        agentId,
        agent: snapshot,
        callerKind: p.kind,
        callerUserId: p.userId,
        callerKeyId: p.keyId,
        callerRole: p.role,
        callerGroups: p.groups,
        input,
        idempotencyScope: idempotencyKey === undefined ? null : scope,
        idempotencyKey: idempotencyKey ?? null,
        requestHash,
      });
      await this.#enqueue(tx, run);
      return { run: await this.#one(tx, run), created: true };
    });
  }

  async #enqueue(tx: TenantTx, run: RunRow): Promise<void> {
    const payload: RunJobPayload = {
      runId: run.id,
      callerUserId: run.caller_user_id,
      callerKeyId: run.caller_key_id,
    };
    await enqueueJob(tx, { kind: RUN_JOB, payload, maxAttempts: this.opts.maxJobAttempts });
  }

  get(p: Principal, id: string): Promise<RunView> {
    return this.db.withTenant(p, async (tx) => {
      const run = await getRun(tx, id);
      if (!run) throw new NotFound('Run');
      return this.#one(tx, run);
    });
  }

  async list(
    p: Principal,
    q: { status?: string | undefined; agentId?: string | undefined; limit: number },
  ): Promise<{ data: RunView[] }> {
    return {
      data: await this.db.withTenant(p, async (tx) => this.#view(tx, await listRuns(tx, q))),
    };
  }

  /** The run's events after `after` (visible only to those who see the run). */
  events(p: Principal, id: string, after: number): Promise<{ data: RunEventView[] }> {
    return this.db.withTenant(p, async (tx) => {
      if (!(await getRun(tx, id))) throw new NotFound('Run');
      return { data: (await listEvents(tx, id, after)).map(eventView) };
    });
  }

  /** Throws NotFound unless the principal may see the run (before a stream starts). */
  async assertVisible(p: Principal, id: string): Promise<void> {
    await this.get(p, id);
  }

  /**
   * The run's events after `after` (at most `limit`), and whether the run has ended; undefined
   * when the principal may not see the run. Status is read first: a run that has ended
   * committed its last event with that status, so `ended` with these events means no more come.
   */
  readSince(
    p: Principal,
    id: string,
    after: number,
    limit = 500,
  ): Promise<{ events: RunEventView[]; ended: boolean } | undefined> {
    return this.db.withTenant(p, async (tx) => {
      const row = await getRun(tx, id);
      if (!row) return undefined;
      const events = (await listEvents(tx, id, after, limit)).map(eventView);
      return { events, ended: TERMINAL.has(row.status) && events.length < limit };
    });
  }

  /** How often a live reader re-reads the log when no notification arrived. */
  get pollMs(): number {
    return this.opts.streamPollMs;
  }

  /**
   * The run's events after `after` as SSE frames, live until the run ends. New events are
   * announced on the bus; the log is also re-read every streamPollMs, so a lost notification
   * (or a worker in another process without Redis) only delays an event. With `deltas`, token
   * deltas of the run's model steps are sent too (`event: delta`, no id): they wait in a bounded
   * queue while the reader is slow and the oldest are dropped; state events are read from the
   * log as the reader pulls, so they are never dropped.
   */
  async *stream(
    p: Principal,
    id: string,
    after: number,
    opts: { deltas?: boolean } = {},
  ): AsyncGenerator<string> {
    let last = after;
    let wake: () => void = () => undefined;
    const pending = new OutboundQueue(this.opts.deltaQueueMax ?? 256);
    const unsubscribe = this.bus.subscribe(id, () => wake());
    const offDeltas = opts.deltas
      ? this.bus.subscribeDeltas(id, (d) => {
          const pushed = pending.push({ kind: 'delta', frame: sseDeltaFrame(id, d) });
          if (pushed.dropped) this.metrics.realtime.droppedDeltas.inc(pushed.dropped);
          wake();
        })
      : () => undefined;
    try {
      // A comment first: the headers go out and the client knows its deltas are subscribed.
      if (opts.deltas) yield ': deltas subscribed\n\n';
      for (;;) {
        const read = await this.readSince(p, id, last);
        if (!read) return;
        for (const e of read.events) {
          last = e.seq;
          yield sseFrame(e);
        }
        if (read.ended) return;
        if (read.events.length === 500) continue;
        for (let d = pending.shift(); d; d = pending.shift()) {
          // A delta of a step whose message was already sent is stale.
          if (afterSeqOf(d.frame) >= last) yield d.frame;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.opts.streamPollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      unsubscribe();
      offDeltas();
    }
  }

  /** Records a person's decision on a call waiting for approval and resumes the run. */
  async decide(
    p: Principal,
    runId: string,
    callId: string,
    body: DecisionBody,
    meta: RequestMeta,
  ): Promise<RunView> {
    const actor = actorOf(p);
    const by = `${actor.type}:${actor.id ?? ''}`;
    const { view, seq, waitedMs } = await this.db.withTenant(p, async (tx) => {
      const run = await getRun(tx, runId);
      if (!run) throw new NotFound('Run');
      const approval = await getApproval(tx, runId, callId);
      if (!approval) throw new NotFound('Approval');
      if (approval.status !== 'pending')
        throw new Conflict(`This call was already ${approval.status}.`, 'already_decided');
      if (run.status !== 'awaiting_approval' || run.cancel_requested)
        throw new Conflict(`The run is ${run.status}.`, 'run_not_awaiting_approval');
      const needed = isRole(approval.approver_role) ? approval.approver_role : 'owner';
      if (!isRole(p.role) || !mayGrant(p.role, needed))
        throw new Forbidden(
          `Approving this tool needs the ${needed} role or higher.`,
          'approver_role_required',
        );
      const sameCaller =
        (run.caller_user_id !== null && run.caller_user_id === p.userId) ||
        (run.caller_user_id === null && run.caller_key_id === p.keyId);
      if (approval.distinct_approver && sameCaller)
        throw new Forbidden(
          "This tool needs an approver other than the run's own caller.",
          'distinct_approver_required',
        );
      const granted = body.decision === 'approve';
      await decideApproval(tx, runId, callId, {
        status: granted ? 'approved' : 'denied',
        decidedBy: by,
        reason: body.reason ?? null,
      });
      const event = await appendEvent(tx, runId, granted ? 'approval.granted' : 'approval.denied', {
        callId,
        tool: approval.tool,
        by,
        reason: body.reason ?? null,
      });
      const updated = await updateRun(tx, runId, { status: 'queued' });
      await this.#enqueue(tx, updated);
      await appendAuditEvent(tx, {
        actor,
        action: granted ? 'approval.granted' : 'approval.denied',
        target: { type: 'run', id: runId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { callId, tool: approval.tool, reason: body.reason ?? null },
      });
      return {
        view: await this.#one(tx, updated),
        seq: event.seq,
        waitedMs: Date.now() - approval.created_at.getTime(),
      };
    });
    this.metrics.approvalDecision.observe({ decision: body.decision }, waitedMs / 1000);
    this.bus.publish(runId, seq);
    return view;
  }

  /** Asks the run to stop; its job compensates what was done and records run.cancelled. */
  cancel(p: Principal, runId: string): Promise<RunView> {
    return this.db.withTenant(p, async (tx) => {
      const run = await getRun(tx, runId);
      if (!run) throw new NotFound('Run');
      if (TERMINAL.has(run.status))
        throw new Conflict(`The run has already ${run.status}.`, 'run_finished');
      if (run.cancel_requested) return this.#one(tx, run);
      // A run waiting for a person holds no job: give it one to wind down.
      const waiting = run.status === 'awaiting_approval';
      const updated = await updateRun(tx, runId, {
        cancelRequested: true,
        ...(waiting ? { status: 'queued' } : {}),
      });
      if (waiting) await this.#enqueue(tx, updated);
      return this.#one(tx, updated);
    });
  }
}
