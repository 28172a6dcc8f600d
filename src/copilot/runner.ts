import { trace } from '@opentelemetry/api';
import type { Principal } from '../platform/http/principal.js';
import type { Job, JobHandler } from '../platform/queue/queue.js';
import { inSpan } from '../platform/telemetry/spans.js';
import { Drive, type RunnerDeps } from './drive.js';
import { RunJobPayload } from './run-job.js';
import { claimRun, listEvents } from './runs-store.js';

const tracer = trace.getTracer('rampart.copilot');

const isReplay = (agent: unknown): boolean =>
  agent !== null && typeof agent === 'object' && 'replayOf' in agent;

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
    // An episode replay is driven only by its replayer, with recorded tool outputs: a job for it
    // (an approval or a cancel sent to it) must never reach the real tools.
    if (isReplay(claimed.run.agent)) return;
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
    if (!claimed || isReplay(claimed.run.agent)) return;
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
