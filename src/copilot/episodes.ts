import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import type { ChatCall, ChatOutcome, ModelCalls } from '../gateway/index.js';
import type { Database } from '../platform/db/database.js';
import { InvalidInput, NotFound } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import { Drive, type RunnerDeps } from './drive.js';
import { LocalRunEventBus, type RunEventBus } from './events.js';
import { copilotMetrics } from './metrics.js';
import { AgentSnapshot, EndRun } from './run-job.js';
import {
  appendEvent,
  claimRun,
  decideApproval,
  getRun,
  insertRun,
  listEvents,
  updateRun,
  type EventRow,
  type RunRow,
} from './runs-store.js';
import { TERMINAL } from './schemas.js';
import { ToolFailed } from './tools/http-action.js';
import type { ResolvedTool, ToolRegistry } from './tools/registry.js';

/**
 * Episode replay (issue #29, decision 024): a finished run's event log is an episode. A replay
 * drives the real run loop (Drive) over a new run marked `replayOf`, with the model's answers
 * (exact) or a new model/instructions (parametric) and every tool output taken from the
 * recording: no tool is ever called, no compensation is ever sent, and a call the recording
 * does not hold fails the replay. The production run loop refuses to drive a replay run, so an
 * approval or a cancel on it can never reach a real tool either.
 */
export type ReplayMode = 'exact' | 'parametric';

export interface ReplayOptions {
  mode: ReplayMode;
  /** Parametric: the gateway alias the replay's model calls use (default: the recorded one). */
  model?: string | undefined;
  /** Parametric: the instructions the replay's agent has (default: the recorded ones). */
  instructions?: string | undefined;
}

export interface ReplayOutcome {
  runId: string;
  replayRunId: string;
  mode: ReplayMode;
  /** Exact: the replay took the recorded decisions and reached the recorded end. */
  reproduced: boolean;
  /** Why it is not reproduced (exact), or what the recording could not answer. */
  divergence: string | null;
  /** Calls the recording does not hold (each fails the replay). */
  violations: string[];
  recorded: { status: string; input: unknown; output: unknown; events: number; tools: string[] };
  replayed: {
    status: string;
    output: unknown;
    reason: string | null;
    events: number;
    tools: string[];
    approvals: number;
    costUsd: number;
    steps: number;
  };
  durationMs: number;
}

/** A replay needs a recording it cannot find, or a run that has not ended. */
export class ReplayRefused extends InvalidInput {}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** JSON text with object keys sorted, so equal values compare equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isRecord(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v ?? null);
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

/** What the log recorded of one tool call. */
interface RecordedCall {
  callId: string;
  tool: string;
  args: unknown;
  outcome?: Outcome;
  compensation?: Outcome;
}

/** The recording of an episode, indexed for the replay. */
class Recording {
  readonly answers: Record<string, unknown>[] = [];
  readonly calls = new Map<string, RecordedCall>();
  readonly decisions = new Map<
    string,
    { granted: boolean; tool: unknown; by: string; reason: unknown }
  >();

  constructor(readonly events: readonly EventRow[]) {
    for (const e of events) {
      const d = isRecord(e.data) ? e.data : {};
      const callId = typeof d.callId === 'string' ? d.callId : '';
      const call = () => {
        let c = this.calls.get(callId);
        if (!c) {
          c = { callId, tool: String(d.tool ?? ''), args: d.arguments ?? null };
          this.calls.set(callId, c);
        }
        return c;
      };
      if (e.type === 'model.message') this.answers.push(d);
      else if (e.type === 'tool.call.requested') call().args = d.arguments ?? null;
      else if (e.type === 'tool.call.succeeded') call().outcome = { ok: true, value: d.result };
      else if (e.type === 'tool.call.failed' && this.calls.has(callId))
        call().outcome = { ok: false, error: String(d.error ?? 'the tool failed') };
      else if (e.type === 'tool.call.compensated')
        call().compensation = { ok: true, value: d.result };
      else if (e.type === 'tool.compensation.failed')
        call().compensation = { ok: false, error: String(d.error ?? 'compensation failed') };
      else if (e.type === 'approval.granted' || e.type === 'approval.denied')
        this.decisions.set(callId, {
          granted: e.type === 'approval.granted',
          tool: d.tool ?? null,
          by: String(d.by ?? ''),
          reason: d.reason ?? null,
        });
    }
  }

  /** The recorded call a replayed one stands for: by its id (exact), or by tool and arguments. */
  find(mode: ReplayMode, callId: string, tool: string, args: unknown, used: Set<string>) {
    if (mode === 'exact') {
      const c = this.calls.get(callId);
      return c && c.tool === tool && canonical(c.args) === canonical(args) ? c : undefined;
    }
    for (const c of this.calls.values())
      if (!used.has(c.callId) && c.tool === tool && canonical(c.args) === canonical(args)) return c;
    return undefined;
  }
}

/** Tool names the events show called (requested), in order, without repeats. */
function toolsOf(events: readonly EventRow[]): string[] {
  const out: string[] = [];
  for (const e of events)
    if (e.type === 'tool.call.requested' && isRecord(e.data) && typeof e.data.tool === 'string')
      if (!out.includes(e.data.tool)) out.push(e.data.tool);
  return out;
}

/** What of an event is a decision of the runtime (no ids, keys, timings or who decided). */
function decisionOf(e: EventRow): string {
  const d = isRecord(e.data) ? { ...e.data } : {};
  for (const k of ['idempotencyKey', 'durationMs', 'by', 'agentId']) delete d[k];
  return `${e.type} ${canonical(d)}`;
}

function firstDivergence(recorded: readonly EventRow[], replayed: readonly EventRow[]) {
  const n = Math.max(recorded.length, replayed.length);
  for (let i = 0; i < n; i++) {
    const a = recorded[i];
    const b = replayed[i];
    const da = a ? decisionOf(a) : '(nothing)';
    const db = b ? decisionOf(b) : '(nothing)';
    if (da !== db)
      return `event ${i + 1}: recorded ${da.slice(0, 300)}; replayed ${db.slice(0, 300)}`;
  }
  return null;
}

/** Replays recorded episodes through the run loop (see the module comment). */
export class EpisodeReplayer {
  constructor(
    private readonly deps: {
      db: Database;
      calls: ModelCalls;
      registry: Pick<ToolRegistry, 'resolve'>;
      leaseMs: number;
      modelTimeoutMs: number;
      bus?: RunEventBus | undefined;
    },
  ) {}

  /** Replays run `runId` as `replayer` sees it (its RLS decides whether it may). */
  async replay(replayer: Principal, runId: string, opts: ReplayOptions): Promise<ReplayOutcome> {
    const started = performance.now();
    const { db } = this.deps;
    const source = await db.withTenant(replayer, async (tx) => {
      const run = await getRun(tx, runId);
      return run ? { run, events: await listEvents(tx, runId, 0, 100_000) } : undefined;
    });
    if (!source) throw new NotFound('Run');
    const { run: recordedRun, events: recordedEvents } = source;
    if (!TERMINAL.has(recordedRun.status))
      throw new ReplayRefused(`Run ${runId} is ${recordedRun.status}: only an ended run replays.`);
    if (isRecord(recordedRun.agent) && recordedRun.agent.replayOf)
      throw new ReplayRefused(`Run ${runId} is itself a replay.`);
    const recording = new Recording(recordedEvents);
    const agent = AgentSnapshot.parse(recordedRun.agent);
    const parametric = opts.mode === 'parametric';
    const snapshot = {
      ...agent,
      model: parametric && opts.model ? opts.model : agent.model,
      instructions:
        parametric && opts.instructions !== undefined ? opts.instructions : agent.instructions,
      replayOf: runId,
      replayMode: opts.mode,
    };
    // The replay acts as the recorded caller (same permissions, groups and visibility).
    const row = await db.withTenant(replayer, (tx) =>
      insertRun(tx, {
        agentId: recordedRun.agent_id,
        agent: snapshot,
        callerKind: recordedRun.caller_kind,
        callerUserId: recordedRun.caller_user_id,
        callerKeyId: recordedRun.caller_key_id,
        callerRole: recordedRun.caller_role,
        callerGroups: recordedRun.caller_groups,
        input: Array.isArray(recordedRun.input) ? (recordedRun.input as unknown[]) : [],
        idempotencyScope: null,
        idempotencyKey: null,
        requestHash: null,
      }),
    );
    const violations: string[] = [];
    const used = new Set<string>();
    const violate = (message: string): never => {
      violations.push(message);
      throw new ToolFailed(`replay: ${message}`, false);
    };
    const registry: Pick<ToolRegistry, 'resolve'> = {
      resolve: async (tx, names) => {
        const real = await this.deps.registry.resolve(tx, names);
        const out = new Map<string, ResolvedTool>();
        for (const [name, tool] of real)
          out.set(name, this.#recorded(tool, opts.mode, recording, used, violate));
        return out;
      },
    };
    let answer = 0;
    const calls: ModelCalls = {
      embeddings: () => Promise.reject(new Error('a replay makes no embeddings call')),
      // Recorded tool outputs carry whatever the recorded run was allowed; a parametric model's
      // own classes bound what reaches it.
      dataClassesAllowed: (caller, model) =>
        parametric ? this.deps.calls.dataClassesAllowed(caller, model) : Promise.resolve(null),
      chat: async (_caller, call: ChatCall, meta): Promise<ChatOutcome> => {
        if (violations.length > 0)
          throw new EndRun({ status: 'failed', reason: `replay_diverged: ${violations[0] ?? ''}` });
        // Parametric: a real model through the gateway, metered to whoever replays.
        if (parametric) return this.deps.calls.chat(replayer, call, meta);
        const d = recording.answers[answer++];
        if (!d) {
          violations.push('the runtime asked the model more often than the recording did');
          throw new EndRun({
            status: 'failed',
            reason: `replay_diverged: ${violations.at(-1) ?? ''}`,
          });
        }
        const content = typeof d.content === 'string' ? d.content : null;
        if (content) call.onDelta?.(content);
        const usage = isRecord(d.usage) ? d.usage : {};
        return {
          content,
          usage: {
            promptTokens: Number(usage.promptTokens ?? 0),
            completionTokens: Number(usage.completionTokens ?? 0),
          },
          body: {},
          toolCalls: (Array.isArray(d.toolCalls) ? d.toolCalls : []).filter(isRecord).map((c) => ({
            id: String(c.modelCallId ?? ''),
            type: 'function' as const,
            function: { name: String(c.name ?? ''), arguments: String(c.arguments ?? '') },
          })),
          costUsd: Number(d.costUsd ?? 0),
          // Who answered, as recorded: an exact replay reproduces the model.message event.
          provider: typeof d.provider === 'string' ? d.provider : null,
          model: typeof d.model === 'string' ? d.model : null,
          redactions: Number(d.redactions ?? 0),
        };
      },
    };
    const deps: RunnerDeps = {
      db,
      calls,
      registry,
      bus: this.deps.bus ?? new LocalRunEventBus(),
      metrics: copilotMetrics(new Registry()),
      leaseMs: this.deps.leaseMs,
      modelTimeoutMs: this.deps.modelTimeoutMs,
      replay: true,
    };
    const final = await this.#drive(deps, replayer, row, recording, violations);
    const replayedEvents = await db.withTenant(replayer, (tx) =>
      listEvents(tx, row.id, 0, 100_000),
    );
    const divergence =
      violations[0] ??
      (opts.mode === 'exact' ? firstDivergence(recordedEvents, replayedEvents) : null);
    return {
      runId,
      replayRunId: row.id,
      mode: opts.mode,
      reproduced: opts.mode === 'exact' && divergence === null,
      divergence,
      violations,
      recorded: {
        status: recordedRun.status,
        input: recordedRun.input,
        output: recordedRun.output,
        events: recordedEvents.length,
        tools: toolsOf(recordedEvents),
      },
      replayed: {
        status: final.status,
        output: final.output,
        reason: final.failure_reason,
        events: replayedEvents.length,
        tools: toolsOf(replayedEvents),
        approvals: replayedEvents.filter((e) => e.type === 'approval.requested').length,
        costUsd: Number(final.cost_usd),
        steps: final.steps,
      },
      durationMs: Math.round(performance.now() - started),
    };
  }

  /** The tool as the replay sees it: its declaration, with outputs from the recording. */
  #recorded(
    tool: ResolvedTool,
    mode: ReplayMode,
    recording: Recording,
    used: Set<string>,
    violate: (message: string) => never,
  ): ResolvedTool {
    const answer = (o: Outcome | undefined, what: string): unknown => {
      if (!o) return violate(what);
      if (!o.ok) throw new ToolFailed(o.error, false);
      return o.value;
    };
    const { call: _call, compensate, ...declaration } = tool;
    return {
      ...declaration,
      call: (ctx) => {
        const callId = ctx.requestId.split(':').at(-1) ?? '';
        const rec = recording.find(mode, callId, tool.name, ctx.args, used);
        if (!rec?.outcome)
          return Promise.resolve(
            violate(
              `the call ${callId} of ${tool.name} ${canonical(ctx.args)} is not in the recording`,
            ),
          );
        used.add(rec.callId);
        return Promise.resolve(answer(rec.outcome, ''));
      },
      ...(compensate
        ? {
            compensate: (ctx) => {
              const callId = ctx.requestId.split(':').at(-2) ?? '';
              const rec = recording.find(mode, callId, tool.name, ctx.args, new Set());
              return Promise.resolve(
                answer(
                  rec?.compensation,
                  `the compensation of ${callId} (${tool.name}) is not in the recording`,
                ),
              );
            },
          }
        : {}),
    };
  }

  /** Drives the replay run to its end; a pause for approval takes the recorded decision. */
  async #drive(
    deps: RunnerDeps,
    replayer: Principal,
    row: RunRow,
    recording: Recording,
    violations: string[],
  ): Promise<RunRow> {
    const jobId = randomUUID();
    const job = {
      id: jobId,
      tenantId: replayer.tenantId,
      kind: 'copilot.replay',
      payload: {},
      attempt: 1,
      maxAttempts: 1,
    };
    for (let round = 0; round < 1000; round++) {
      const claimed = await deps.db.withTenant(replayer, async (tx) => {
        const run = await claimRun(tx, row.id, jobId, deps.leaseMs);
        return run ? { run, events: await listEvents(tx, run.id, 0, 100_000) } : undefined;
      });
      if (!claimed) break;
      const drive = new Drive(deps, job, claimed.run, claimed.events);
      try {
        await drive.drive();
      } catch (err) {
        // No job retries a replay: it ends failed here (its saga answers from the recording),
        // rather than stay "running" and hold a place in the tenant's bulkhead.
        violations.push(`the replay failed: ${err instanceof Error ? err.message : String(err)}`);
        await drive.finish({
          status: 'failed',
          reason: `replay_error: ${violations.at(-1) ?? ''}`,
        });
        break;
      }
      const now = await deps.db.withTenant(replayer, (tx) => getRun(tx, row.id));
      if (!now || now.status !== 'awaiting_approval') break;
      // Paused for a person: the person's recorded decision, or the replay cannot go on.
      const waiting = [...drive.state.approvals].filter(([, s]) => s.status === 'pending');
      for (const [callId] of waiting) {
        const decision = recording.decisions.get(callId);
        if (!decision) {
          violations.push(`the approval of ${callId} is not in the recording`);
          await deps.db.withTenant(replayer, async (tx) => {
            await updateRun(tx, row.id, { status: 'queued' });
          });
          const again = await deps.db.withTenant(replayer, async (tx) => {
            const run = await claimRun(tx, row.id, jobId, deps.leaseMs);
            return run ? { run, events: await listEvents(tx, run.id, 0, 100_000) } : undefined;
          });
          if (again)
            await new Drive(deps, job, again.run, again.events).finish({
              status: 'failed',
              reason: `replay_diverged: ${violations.at(-1) ?? ''}`,
            });
          return (await deps.db.withTenant(replayer, (tx) => getRun(tx, row.id))) ?? row;
        }
        await deps.db.withTenant(replayer, async (tx) => {
          await decideApproval(tx, row.id, callId, {
            status: decision.granted ? 'approved' : 'denied',
            decidedBy: decision.by,
            reason: typeof decision.reason === 'string' ? decision.reason : null,
          });
          await appendEvent(tx, row.id, decision.granted ? 'approval.granted' : 'approval.denied', {
            callId,
            tool: decision.tool,
            by: decision.by,
            reason: decision.reason,
          });
          await updateRun(tx, row.id, { status: 'queued' });
        });
      }
    }
    return (await deps.db.withTenant(replayer, (tx) => getRun(tx, row.id))) ?? row;
  }
}
