import type { Drive } from './drive.js';
import type { Finish } from './run-job.js';

/** Ends the run: compensates (failed or cancelled) in reverse order, then records the end. */
export async function finishRun(d: Drive, f: Finish): Promise<void> {
  let status = f.status;
  let reason = f.reason;
  if (status !== 'succeeded') {
    for (const done of [...d.state.succeeded].reverse()) {
      if (d.state.compensated.has(done.callId)) continue;
      const tool =
        d.tools.get(done.tool) ??
        (
          await d.deps.db.withTenant(d.principal, (tx) => d.deps.registry.resolve(tx, [done.tool]))
        ).get(done.tool);
      if (!tool?.sideEffect || !tool.compensate) continue;
      try {
        const result = await tool.compensate({
          principal: d.principal,
          args: done.args,
          result: done.result,
          idempotencyKey: `${d.run.id}:${done.callId}:compensate`,
          requestId: `run:${d.run.id}:${done.callId}:compensate`,
        });
        d.deps.metrics.compensations.inc({ outcome: 'succeeded' });
        await d.emit('tool.call.compensated', {
          callId: done.callId,
          tool: done.tool,
          result: result ?? null,
        });
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        d.deps.metrics.compensations.inc({ outcome: 'failed' });
        await d.emit('tool.compensation.failed', {
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
  await d.emit(`run.${status}`, status === 'succeeded' ? { output } : { reason }, {
    status,
    output,
    failureReason: reason,
    finished: true,
    releaseLease: true,
  });
  d.deps.metrics.runs.inc({ status });
  d.deps.metrics.steps.observe(d.run.steps);
}
