import type { Logger } from 'pino';
import type { ChatMessage, ModelCalls, ToolSpec } from '../gateway/index.js';
import { ROLE_PERMISSIONS, currentStanding, isRole } from '../identity/index.js';
import type { Database } from '../platform/db/database.js';
import { AppError } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import type { Job } from '../platform/queue/queue.js';
import { recordWebhookEvent } from '../webhooks/index.js';
import { recordRequest } from '../governance/requests-service.js';
import { runRecord } from './run-record.js';
import type { RunEventBus } from './events.js';
import { finishRun } from './saga.js';
import { schemaErrors } from './json-schema.js';
import type { CopilotMetrics } from './metrics.js';
import { replay, type CallRecord, type Replay } from './replay.js';
import {
  AgentSnapshot,
  EndRun,
  InputMessages,
  Paused,
  runPrincipal,
  type Finish,
} from './run-job.js';
import {
  appendEvent,
  getRun,
  updateRun,
  type EventRow,
  type RunPatch,
  type RunRow,
} from './runs-store.js';
import { runToolCall } from './tool-call.js';
import { nameMap, type NameMap } from './tools/names.js';
import type { ResolvedTool, ToolRegistry } from './tools/registry.js';

export interface RunnerDeps {
  db: Database;
  calls: ModelCalls;
  registry: Pick<ToolRegistry, 'resolve'>;
  bus: RunEventBus;
  metrics: CopilotMetrics;
  /** How long a run stays with the job driving it without a sign of life. */
  leaseMs: number;
  modelTimeoutMs: number;
  logger?: Logger | undefined;
  /** An episode replay (episodes.ts): announces nothing to the tenant's webhooks. */
  replay?: boolean | undefined;
}

/** One job's drive of one run. */
export class Drive {
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
      // The run's request record (governance: reconstruction) commits with its end.
      if (patch.finished)
        await recordRequest(tx, runRecord(updated, [...this.events, e], this.agent));
      // Webhooks: the outbox row commits with the state change it announces.
      if (!this.deps.replay && (patch.finished || patch.status === 'awaiting_approval'))
        await recordWebhookEvent(tx, patch.finished ? 'run.finished' : 'run.awaiting_approval', {
          runId: updated.id,
          agentId: updated.agent_id,
          status: updated.status,
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
          for (const call of pending) await runToolCall(this, call);
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
        {
          model: { alias: this.agent.model },
          messages,
          tools: specs.length ? specs : undefined,
          // Token deltas are previews on the bus only (never in the log): the step's record is
          // the model.message written below, once the answer is whole.
          onDelta: (text) =>
            this.deps.bus.publishDelta(this.run.id, { step, afterSeq: this.state.lastSeq, text }),
        },
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
      {
        step,
        content: outcome.content,
        toolCalls,
        usage,
        costUsd: outcome.costUsd,
        provider: outcome.provider,
        model: outcome.model,
        redactions: outcome.redactions,
      },
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

  /** Ends the run: compensates (failed or cancelled) in reverse order, then records the end. */
  finish(f: Finish): Promise<void> {
    return finishRun(this, f);
  }
}

function stripFence(text: string): string {
  const m = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/.exec(text);
  return m?.[1] ?? text;
}
