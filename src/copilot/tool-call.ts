import { trace } from '@opentelemetry/api';
import { AppError } from '../platform/http/errors.js';
import { inSpan } from '../platform/telemetry/spans.js';
import type { Drive } from './drive.js';
import { schemaErrors } from './json-schema.js';
import type { CallRecord } from './replay.js';
import { EndRun, Paused } from './run-job.js';
import { insertApproval, updateRun } from './runs-store.js';
import { stricterPolicy } from './schemas.js';
import { ToolFailed } from './tools/http-action.js';
import type { ResolvedTool } from './tools/registry.js';

const tracer = trace.getTracer('rampart.copilot');

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** One requested call: refused, waiting for a person, or made (written ahead). */
export async function runToolCall(d: Drive, call: CallRecord): Promise<void> {
  const { callId } = call;
  const entry = d.agent.tools.find((t) => t.name === call.tool);
  const toolName = call.tool ?? call.name;
  const count = (outcome: string) =>
    d.deps.metrics.toolCalls.inc({ tool: entry ? toolName : 'unknown', outcome });
  if (!entry) {
    count('failed');
    return d.emit('tool.call.failed', {
      callId,
      tool: toolName,
      error: `There is no tool named '${call.name}'.`,
    });
  }
  // The agent's policy and the caller's permissions decide; nothing the model says does.
  if (entry.policy === 'deny') {
    count('denied');
    return d.emit('tool.call.denied', { callId, tool: entry.name, reason: 'policy' });
  }
  const tool = d.tools.get(entry.name);
  if (!tool) {
    count('failed');
    return d.emit('tool.call.failed', {
      callId,
      tool: entry.name,
      error: 'This tool no longer exists.',
    });
  }
  // A tool source may require a stricter policy than the agent's entry (never a looser one).
  const policy = stricterPolicy(entry.policy, tool.policy);
  if (policy === 'deny') {
    count('denied');
    return d.emit('tool.call.denied', { callId, tool: entry.name, reason: 'policy' });
  }
  if (tool.permission && !d.principal.permissions.has(tool.permission)) {
    count('denied');
    return d.emit('tool.call.denied', {
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
    return d.emit('tool.call.failed', {
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
    return d.emit('tool.call.failed', {
      callId,
      tool: entry.name,
      error: "The arguments do not match the tool's parameters; correct them and call again.",
      errors,
    });
  }
  if (policy === 'ask') {
    const decision = d.state.approvals.get(callId);
    if (!decision) {
      const approverRole = entry.approverRole ?? 'admin';
      const distinctApprover = entry.distinctApprover === true;
      await d.deps.db.withTenant(d.principal, (tx) =>
        insertApproval(tx, d.run.id, {
          callId,
          tool: entry.name,
          arguments: args,
          approverRole,
          distinctApprover,
        }),
      );
      await d.emit(
        'approval.requested',
        { callId, tool: entry.name, arguments: args, approverRole, distinctApprover },
        { status: 'awaiting_approval', releaseLease: true },
      );
      throw new Paused();
    }
    if (decision.status === 'pending') {
      await d.deps.db.withTenant(d.principal, (tx) =>
        updateRun(tx, d.run.id, { status: 'awaiting_approval', releaseLease: true }),
      );
      throw new Paused();
    }
    if (decision.status === 'denied') {
      count('denied');
      return d.emit('tool.call.denied', {
        callId,
        tool: entry.name,
        reason: 'approver',
        by: decision.by,
        why: decision.reason,
      });
    }
  }
  await execute(d, entry.name, tool, callId, args);
}

async function execute(
  d: Drive,
  name: string,
  tool: ResolvedTool,
  callId: string,
  args: Record<string, unknown>,
): Promise<void> {
  const idempotencyKey = `${d.run.id}:${callId}`;
  // Written ahead: after a crash, a requested call with no outcome is re-sent with this key.
  if (!d.state.requested.has(callId))
    await d.emit('tool.call.requested', {
      callId,
      tool: name,
      arguments: args,
      idempotencyKey,
    });
  const started = performance.now();
  let result: unknown;
  try {
    // What the tool returns goes into the run model's next prompt (decision 020).
    const allowedDataClasses = await d.deps.calls.dataClassesAllowed(d.principal, {
      alias: d.agent.model,
    });
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
          principal: d.principal,
          args,
          idempotencyKey,
          requestId: `run:${d.run.id}:${callId}`,
          allowedDataClasses,
        }),
    );
  } catch (err) {
    const error =
      err instanceof ToolFailed || err instanceof AppError ? err.message : 'the tool failed';
    if (!(err instanceof ToolFailed || err instanceof AppError))
      d.deps.logger?.warn({ err, runId: d.run.id, tool: name }, 'copilot tool failed');
    d.deps.metrics.toolCalls.inc({ tool: name, outcome: 'failed' });
    d.deps.metrics.toolLatency.observe({ tool: name }, (performance.now() - started) / 1000);
    await d.emit('tool.call.failed', { callId, tool: name, error });
    // A side effect that failed aborts the run: what was done before it is undone (saga).
    if (tool.sideEffect)
      throw new EndRun({ status: 'failed', reason: `tool_failed: ${name}: ${error}` });
    return;
  }
  d.deps.metrics.toolCalls.inc({ tool: name, outcome: 'succeeded' });
  d.deps.metrics.toolLatency.observe({ tool: name }, (performance.now() - started) / 1000);
  await d.emit('tool.call.succeeded', {
    callId,
    tool: name,
    result: result ?? null,
    durationMs: Math.round(performance.now() - started),
  });
}
