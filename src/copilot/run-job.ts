import { z } from 'zod';
import { ROLE_PERMISSIONS, isRole } from '../identity/index.js';
import type { Principal } from '../platform/http/principal.js';
import type { RunRow } from './runs-store.js';
import { AgentToolEntry } from './schemas.js';

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

export type Finish = {
  status: 'succeeded' | 'failed' | 'cancelled';
  reason: string | null;
  output?: unknown;
};

/** Thrown inside a step to end the run (after compensation when it did not succeed). */
export class EndRun extends Error {
  constructor(readonly finish: Finish) {
    super(finish.reason ?? finish.status);
  }
}
/** Thrown when the run must wait for a person: the job ends, the run holds no process. */
export class Paused extends Error {}
