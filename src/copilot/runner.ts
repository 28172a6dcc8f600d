import { trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ChatMessage, ModelCalls, ToolSpec } from '../gateway/index.js';
import { ROLE_PERMISSIONS, currentStanding, isRole } from '../identity/index.js';
import type { Database } from '../platform/db/database.js';
import { AppError } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import type { Job, JobHandler } from '../platform/queue/queue.js';
import { inSpan } from '../platform/telemetry/spans.js';
import type { RunEventBus } from './events.js';
import { schemaErrors } from './json-schema.js';
import type { CopilotMetrics } from './metrics.js';
import { replay, type CallRecord, type Replay } from './replay.js';
import {
  appendEvent,
  claimRun,
  getRun,
  insertApproval,
  listEvents,
  updateRun,
  type EventRow,
  type RunPatch,
  type RunRow,
} from './runs-store.js';
import { AgentToolEntry, stricterPolicy } from './schemas.js';
import { ToolFailed } from './tools/http-action.js';
import { nameMap, type NameMap } from './tools/names.js';
import type { ResolvedTool, ToolRegistry } from './tools/registry.js';

export const RUN_JOB = 'copilot.run';

/** The job's payload: the run, and whose it is (the run is read under that caller's RLS). */
export const RunJobPayload = z.object({
  runId: z.uuid(),
  callerUserId: z.uuid().nullable(),
  callerKeyId: z.uuid().nullable(),
});
export type RunJobPayload = z.infer<typeof RunJobPayload>;

/** The agent's definition as the run took it at creation. */
export const AgentSnapshot = z.object({
  name: z.string(),
  instructions: z.string(),
  model: z.string(),
  tools: z.array(AgentToolEntry),
  maxSteps: z.number(),
  budgetUsd: z.number().nullable(),
  outputSchema: z.record(z.string(), z.unknown()).nullable(),
});
export type AgentSnapshot = z.infer<typeof AgentSnapshot>;

export const InputMessages = z.array(
  z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }),
);

const tracer = trace.getTracer('rampart.copilot');

/** The principal a run acts as: its caller, as verified when the run was created. */
export function runPrincipal(tenantId: string, run: RunRow): Principal {
  const role = isRole(run.caller_role) ? run.caller_role : 'viewer';
  return {
    kind: run.caller_kind === 'user' ? 'user' : 'api_key',
    tenantId,
    tenantSlug: '',
    userId: run.caller_user_id,
    keyId: run.caller_key_id,
    role,
    permissions: ROLE_PERMISSIONS[role],
    groups: run.caller_groups,
  };
}

export interface RunnerDeps {
  db: Database;
  calls: ModelCalls;
  registry: ToolRegistry;
  bus: RunEventBus;
  metrics: CopilotMetrics;
  /** How long a run stays with the job driving it without a sign of life. */
  leaseMs: number;
  modelTimeoutMs: number;
  logger?: Logger | undefined;
}

type Finish = {
  status: 'succeeded' | 'failed' | 'cancelled';
  reason: string | null;
  output?: unknown;
};

/** Thrown inside a step to end the run (after compensation when it did not succeed). */
class EndRun extends Error {
  constructor(readonly finish: Finish) {
    super(finish.reason ?? finish.status);
  }
}
/** Thrown when the run must wait for a person: the job ends, the run holds no process. */
class Paused extends Error {}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** One job's drive of one run. */
class Drive {
  principal: Principal;
  readonly agent: AgentSnapshot;
  readonly names: NameMap;
  readonly events: EventRow[];
  state: Replay;
  tools = new Map<string, ResolvedTool>();

  constructor(
    readonly deps: RunnerDeps,
    readonly job: Job,
    public run: RunRow,
    events: readonly EventRow[],
  ) {
    this.principal = runPrincipal(job.tenantId, run);
    this.agent = AgentSnapshot.parse(run.agent);
    this.names = nameMap(this.agent.tools.map((t) => t.name));
    this.events = [...events];
    this.state = replay(this.events);
  }

  /** Appends an event (durable before anything it announces happens) and publishes it. */
  async emit(type: string, data: Record<string, unknown>, patch: RunPatch = {}): Promise<void> {
    const { row, event } = await this.deps.db.withTenant(this.principal, async (tx) => {
      const e = await appendEvent(tx, this.run.id, type, data);
      const updated = await updateRun(tx, this.run.id, {
        renewLeaseMs: this.deps.leaseMs,
        ...patch,
      });
      return { row: updated, event: e };
    });
    this.run = row;
    this.events.push(event);
    this.state = replay(this.events);
    this.deps.bus.publish(this.run.id, event.seq);
  }

  async #refresh(): Promise<void> {
    const row = await this.deps.db.withTenant(this.principal, (tx) => getRun(tx, this.run.id));
    if (row) this.run = row;
  }

  async drive(): Promise<void> {
    // The run acts as its caller as the caller stands now: a revoked or expired key stops it,
    // a changed role or groups apply from this job on.
    const standing = await currentStanding(this.deps.db, this.principal);
    if (!standing) {
      this.tools = await this.deps.db.withTenant(this.principal, (tx) =>
        this.deps.registry.resolve(
          tx,
          this.agent.tools.map((t) => t.name),
        ),
      );
      return this.finish({
        status: 'failed',
        reason: 'caller_revoked: the API key that started this run is no longer valid',
      });
    }
    const role = isRole(standing.role) ? standing.role : 'viewer';
    this.principal = {
      ...this.principal,
      role,
      permissions: ROLE_PERMISSIONS[role],
      groups: standing.groups,
    };
    this.tools = await this.deps.db.withTenant(this.principal, (tx) =>
      this.deps.registry.resolve(
        tx,
        this.agent.tools.filter((t) => t.policy !== 'deny').map((t) => t.name),
      ),
    );
    if (!this.state.started)
      await this.emit('run.started', { agentId: this.run.agent_id, model: this.agent.model });
    try {
      for (;;) {
        await this.#refresh();
        if (this.run.cancel_requested)
          throw new EndRun({ status: 'cancelled', reason: 'cancelled by request' });
        const pending = (this.state.last?.calls ?? []).filter(
          (c) => !this.state.outcomes.has(c.callId),
        );
        if (pending.length > 0) {
          for (const call of pending) await this.#toolCall(call);
          continue;
        }
        const last = this.state.last;
        if (last && last.calls.length === 0 && !this.state.repairPending) {
          await this.#final(last.content);
          continue;
        }
        await this.#modelStep();
      }
    } catch (err) {
      if (err instanceof Paused) return;
      if (err instanceof EndRun) return this.finish(err.finish);
      throw err;
    }
  }

  async #final(content: string | null): Promise<void> {
    const schema = this.agent.outputSchema;
    if (!schema) throw new EndRun({ status: 'succeeded', reason: null, output: content ?? '' });
    let value: unknown;
    let errors: string[];
    try {
      value = JSON.parse(stripFence(content ?? '')) as unknown;
      errors = schemaErrors(schema, value);
    } catch {
      errors = ['the answer is not JSON'];
    }
    if (errors.length === 0) throw new EndRun({ status: 'succeeded', reason: null, output: value });
    if (this.state.repairs >= 1)
      throw new EndRun({
        status: 'failed',
        reason: `invalid_output: the answer did not match the output schema after one repair (${errors.join('; ')})`,
      });
    await this.emit('output.invalid', { errors });
  }

  async #modelStep(): Promise<void> {
    const budget = this.agent.budgetUsd;
    const spent = Number(this.run.cost_usd);
    if (this.run.steps >= this.agent.maxSteps)
      throw new EndRun({ status: 'failed', reason: 'max_steps_exceeded' });
    if (budget !== null && spent >= budget)
      throw new EndRun({ status: 'failed', reason: 'budget_exhausted' });
    const messages: ChatMessage[] = [
      ...(this.agent.instructions
        ? [{ role: 'system' as const, content: this.agent.instructions }]
        : []),
      ...InputMessages.parse(this.run.input),
      ...this.state.messages,
    ];
    const specs: ToolSpec[] = [];
    for (const entry of this.agent.tools) {
      const tool = this.tools.get(entry.name);
      const name = this.names.toModel(entry.name);
      // A denied tool is not offered; a call to it anyway is refused (never made).
      if (!tool || !name || entry.policy === 'deny') continue;
      specs.push({
        type: 'function',
        function: { name, description: tool.description, parameters: tool.parameters },
      });
    }
    const step = this.run.steps + 1;
    let outcome;
    try {
      outcome = await this.deps.calls.chat(
        this.principal,
        { model: { alias: this.agent.model }, messages, tools: specs.length ? specs : undefined },
        { requestId: `run:${this.run.id}:${step}`, timeoutMs: this.deps.modelTimeoutMs },
      );
    } catch (err) {
      // A client error (unknown model, not allowed, tenant budget) will not heal by retrying;
      // a rate limit or upstream failure fails this attempt and the job retries from the log.
      if (err instanceof AppError && err.status < 500 && err.status !== 429)
        throw new EndRun({ status: 'failed', reason: `model_error: ${err.message}` });
      throw err;
    }
    const toolCalls: CallRecord[] = outcome.toolCalls.map((c, i) => ({
      callId: `c${step}_${i}`,
      modelCallId: c.id,
      name: c.function.name,
      tool: this.names.toRegistry(c.function.name) ?? null,
      arguments: c.function.arguments,
    }));
    const usage = outcome.usage ?? { promptTokens: 0, completionTokens: 0 };
    await this.emit(
      'model.message',
      { step, content: outcome.content, toolCalls, usage, costUsd: outcome.costUsd },
      {
        addSteps: 1,
        addPromptTokens: usage.promptTokens,
        addCompletionTokens: usage.completionTokens,
        addCostUsd: outcome.costUsd,
      },
    );
    if (budget !== null && Number(this.run.cost_usd) > budget)
      throw new EndRun({ status: 'failed', reason: 'budget_exhausted' });
  }

  async #toolCall(call: CallRecord): Promise<void> {
    const { callId } = call;
    const entry = this.agent.tools.find((t) => t.name === call.tool);
    const toolName = call.tool ?? call.name;
    const count = (outcome: string) =>
      this.deps.metrics.toolCalls.inc({ tool: entry ? toolName : 'unknown', outcome });
    if (!entry) {
      count('failed');
      return this.emit('tool.call.failed', {
        callId,
        tool: toolName,
        error: `There is no tool named '${call.name}'.`,
      });
    }
    // The agent's policy and the caller's permissions decide; nothing the model says does.
    if (entry.policy === 'deny') {
      count('denied');
      return this.emit('tool.call.denied', { callId, tool: entry.name, reason: 'policy' });
    }
    const tool = this.tools.get(entry.name);
    if (!tool) {
      count('failed');
      return this.emit('tool.call.failed', {
        callId,
        tool: entry.name,
        error: 'This tool no longer exists.',
      });
    }
    // A tool source may require a stricter policy than the agent's entry (never a looser one).
    const policy = stricterPolicy(entry.policy, tool.policy);
    if (policy === 'deny') {
      count('denied');
      return this.emit('tool.call.denied', { callId, tool: entry.name, reason: 'policy' });
    }
    if (tool.permission && !this.principal.permissions.has(tool.permission)) {
      count('denied');
      return this.emit('tool.call.denied', {
        callId,
        tool: entry.name,
        reason: 'permission',
        permission: tool.permission,
      });
    }
    let args: unknown;
    try {
      args = JSON.parse(call.arguments || '{}') as unknown;
    } catch {
      count('invalid_arguments');
      return this.emit('tool.call.failed', {
        callId,
        tool: entry.name,
        error: 'The arguments are not valid JSON.',
      });
    }
    const errors = isRecord(args)
      ? schemaErrors(tool.parameters, args)
      : ['the arguments must be a JSON object'];
    if (!isRecord(args) || errors.length > 0) {
      count('invalid_arguments');
      return this.emit('tool.call.failed', {
        callId,
        tool: entry.name,
        error: "The arguments do not match the tool's parameters; correct them and call again.",
        errors,
      });
    }
    if (policy === 'ask') {
      const decision = this.state.approvals.get(callId);
      if (!decision) {
        const approverRole = entry.approverRole ?? 'admin';
        const distinctApprover = entry.distinctApprover === true;
        await this.deps.db.withTenant(this.principal, (tx) =>
          insertApproval(tx, this.run.id, {
            callId,
            tool: entry.name,
            arguments: args,
            approverRole,
            distinctApprover,
          }),
        );
        await this.emit(
          'approval.requested',
          { callId, tool: entry.name, arguments: args, approverRole, distinctApprover },
          { status: 'awaiting_approval', releaseLease: true },
        );
        throw new Paused();
      }
      if (decision.status === 'pending') {
        await this.deps.db.withTenant(this.principal, (tx) =>
          updateRun(tx, this.run.id, { status: 'awaiting_approval', releaseLease: true }),
        );
        throw new Paused();
      }
      if (decision.status === 'denied') {
        count('denied');
        return this.emit('tool.call.denied', {
          callId,
          tool: entry.name,
          reason: 'approver',
          by: decision.by,
          why: decision.reason,
        });
      }
    }
    await this.#execute(entry.name, tool, callId, args);
  }

  async #execute(
    name: string,
    tool: ResolvedTool,
    callId: string,
    args: Record<string, unknown>,
  ): Promise<void> {
    const idempotencyKey = `${this.run.id}:${callId}`;
    // Written ahead: after a crash, a requested call with no outcome is re-sent with this key.
    if (!this.state.requested.has(callId))
      await this.emit('tool.call.requested', {
        callId,
        tool: name,
        arguments: args,
        idempotencyKey,
      });
    const started = performance.now();
    let result: unknown;
    try {
      result = await inSpan(
        tracer,
        `execute_tool ${name}`,
        {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': name,
          'gen_ai.tool.call.id': callId,
        },
        () =>
          tool.call({
            principal: this.principal,
            args,
            idempotencyKey,
            requestId: `run:${this.run.id}:${callId}`,
          }),
      );
    } catch (err) {
      const error =
        err instanceof ToolFailed || err instanceof AppError ? err.message : 'the tool failed';
      if (!(err instanceof ToolFailed || err instanceof AppError))
        this.deps.logger?.warn({ err, runId: this.run.id, tool: name }, 'copilot tool failed');
      this.deps.metrics.toolCalls.inc({ tool: name, outcome: 'failed' });
      this.deps.metrics.toolLatency.observe({ tool: name }, (performance.now() - started) / 1000);
      await this.emit('tool.call.failed', { callId, tool: name, error });
      // A side effect that failed aborts the run: what was done before it is undone (saga).
      if (tool.sideEffect)
        throw new EndRun({ status: 'failed', reason: `tool_failed: ${name}: ${error}` });
      return;
    }
    this.deps.metrics.toolCalls.inc({ tool: name, outcome: 'succeeded' });
    this.deps.metrics.toolLatency.observe({ tool: name }, (performance.now() - started) / 1000);
    await this.emit('tool.call.succeeded', {
      callId,
      tool: name,
      result: result ?? null,
      durationMs: Math.round(performance.now() - started),
    });
  }

  /** Ends the run: compensates (failed or cancelled) in reverse order, then records the end. */
  async finish(f: Finish): Promise<void> {
    let status = f.status;
    let reason = f.reason;
    if (status !== 'succeeded') {
      for (const done of [...this.state.succeeded].reverse()) {
        if (this.state.compensated.has(done.callId)) continue;
        const tool =
          this.tools.get(done.tool) ??
          (
            await this.deps.db.withTenant(this.principal, (tx) =>
              this.deps.registry.resolve(tx, [done.tool]),
            )
          ).get(done.tool);
        if (!tool?.sideEffect || !tool.compensate) continue;
        try {
          const result = await tool.compensate({
            principal: this.principal,
            args: done.args,
            result: done.result,
            idempotencyKey: `${this.run.id}:${done.callId}:compensate`,
            requestId: `run:${this.run.id}:${done.callId}:compensate`,
          });
          this.deps.metrics.compensations.inc({ outcome: 'succeeded' });
          await this.emit('tool.call.compensated', {
            callId: done.callId,
            tool: done.tool,
            result: result ?? null,
          });
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          this.deps.metrics.compensations.inc({ outcome: 'failed' });
          await this.emit('tool.compensation.failed', {
            callId: done.callId,
            tool: done.tool,
            error,
          });
          status = 'failed';
          reason = `${reason ?? 'cancelled'}; compensation_failed: ${done.tool}`;
        }
      }
    }
    const output = status === 'succeeded' ? (f.output ?? null) : null;
    await this.emit(`run.${status}`, status === 'succeeded' ? { output } : { reason }, {
      status,
      output,
      failureReason: reason,
      finished: true,
      releaseLease: true,
    });
    this.deps.metrics.runs.inc({ status });
    this.deps.metrics.steps.observe(this.run.steps);
  }
}

function stripFence(text: string): string {
  const m = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/.exec(text);
  return m?.[1] ?? text;
}

/** The job that drives runs: claims the run, resumes it from its event log, runs its steps. */
export class RunLoop {
  constructor(private readonly deps: RunnerDeps) {}

  handler(): JobHandler {
    return {
      run: (job) => this.#run(job),
      onDead: (job, error) => this.#dead(job, error),
    };
  }

  async #load(job: Job): Promise<{ principal: Principal; payload: RunJobPayload } | undefined> {
    const parsed = RunJobPayload.safeParse(job.payload);
    if (!parsed.success) return undefined;
    const p = parsed.data;
    // Only the run's caller (or an approver) sees the run: read it as its caller.
    return {
      payload: p,
      principal: {
        kind: 'service',
        tenantId: job.tenantId,
        tenantSlug: '',
        userId: p.callerUserId,
        keyId: p.callerKeyId,
        role: 'service',
        permissions: new Set(),
        groups: [],
      },
    };
  }

  async #run(job: Job): Promise<void> {
    const loaded = await this.#load(job);
    if (!loaded) throw new Error('malformed copilot run job');
    const { db } = this.deps;
    const claimed = await db.withTenant(loaded.principal, async (tx) => {
      const run = await claimRun(tx, loaded.payload.runId, job.id, this.deps.leaseMs);
      return run ? { run, events: await listEvents(tx, run.id, 0) } : undefined;
    });
    // Finished, waiting for a person, or driven by another live job: nothing to do here.
    if (!claimed) return;
    const drive = new Drive(this.deps, job, claimed.run, claimed.events);
    await inSpan(
      tracer,
      `invoke_agent ${drive.agent.name}`,
      {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.agent.name': drive.agent.name,
        'gen_ai.agent.id': claimed.run.agent_id,
        'rampart.run.id': claimed.run.id,
      },
      () => drive.drive(),
    );
  }

  /** The job failed for the last time (e.g. the model stayed unavailable): the run fails cleanly. */
  async #dead(job: Job, error: string): Promise<void> {
    const loaded = await this.#load(job);
    if (!loaded) return;
    const claimed = await this.deps.db.withTenant(loaded.principal, async (tx) => {
      const run = await claimRun(tx, loaded.payload.runId, job.id, this.deps.leaseMs);
      return run ? { run, events: await listEvents(tx, run.id, 0) } : undefined;
    });
    if (!claimed) return;
    const drive = new Drive(this.deps, job, claimed.run, claimed.events);
    drive.tools = await this.deps.db.withTenant(drive.principal, (tx) =>
      this.deps.registry.resolve(
        tx,
        drive.agent.tools.map((t) => t.name),
      ),
    );
    await drive.finish({ status: 'failed', reason: `run_error: ${error}` });
  }
}
