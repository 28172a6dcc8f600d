import { z } from 'zod';
import { isPermission } from '../platform/http/permissions-catalogue.js';
import { safeString } from '../platform/http/safe-string.js';

/** A JSON Schema as given (checked with ajv when the definition is saved). */
const JsonSchema = z.record(z.string(), z.unknown()).meta({ description: 'A JSON Schema.' });

/** Name spaces of built-in tool sources; a tenant's HTTP action may not take them. */
export const BUILTIN_PREFIXES = ['knowledge.', 'sql.', 'mcp.'];

export const ToolName = safeString().regex(
  /^[a-z][a-z0-9_.-]{0,63}$/,
  'lower-case letters, digits, _ . - (up to 64), starting with a letter',
);

export const ToolPolicy = z.enum(['always', 'ask', 'deny']);
export type ToolPolicy = z.infer<typeof ToolPolicy>;
const STRICTNESS: Record<ToolPolicy, number> = { always: 0, ask: 1, deny: 2 };
/** The stricter of two policies (`deny` > `ask` > `always`); an absent one does not count. */
export function stricterPolicy(a: ToolPolicy, b: ToolPolicy | undefined): ToolPolicy {
  return b !== undefined && STRICTNESS[b] > STRICTNESS[a] ? b : a;
}

export const AgentToolEntry = z.object({
  name: ToolName,
  policy: ToolPolicy,
  /** The least role that may approve this tool's calls (policy ask); default admin. */
  approverRole: z.enum(['owner', 'admin', 'member']).optional(),
  /** The run's own caller may not approve its calls. */
  distinctApprover: z.boolean().optional(),
});
export type AgentToolEntry = z.infer<typeof AgentToolEntry>;

const agentFields = {
  name: safeString().trim().min(1).max(200),
  instructions: safeString().max(20_000),
  model: safeString().min(1).max(128),
  tools: z.array(AgentToolEntry).max(64),
  maxSteps: z.number().int().min(1).max(200),
  budgetUsd: z.number().min(0).max(1_000_000).nullable(),
  outputSchema: JsonSchema.nullable(),
};

export const CreateAgentBody = z.object({
  ...agentFields,
  tools: agentFields.tools.default([]),
  maxSteps: agentFields.maxSteps.default(12),
  budgetUsd: agentFields.budgetUsd.optional(),
  outputSchema: agentFields.outputSchema.optional(),
});
export type CreateAgentBody = z.infer<typeof CreateAgentBody>;
export const PatchAgentBody = z.object(agentFields).partial();
export type PatchAgentBody = z.infer<typeof PatchAgentBody>;

export const AgentView = z.object({
  id: z.string(),
  name: z.string(),
  instructions: z.string(),
  model: z.string(),
  tools: z.array(AgentToolEntry),
  maxSteps: z.number(),
  budgetUsd: z.number().nullable(),
  outputSchema: z.record(z.string(), z.unknown()).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type AgentView = z.infer<typeof AgentView>;

const Method = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const HttpsTemplate = safeString()
  .max(2000)
  .regex(/^https?:\/\//, 'an http(s) URL template');
const Headers = z
  .record(safeString().regex(/^[A-Za-z0-9-]{1,100}$/), safeString().max(2000))
  .refine((h) => Object.keys(h).length <= 32, 'at most 32 headers');

export const ToolRequest = z.object({
  method: Method,
  url: HttpsTemplate,
  /** Header templates; `{credential}` places the credential (default: Authorization: Bearer). */
  headers: Headers.optional(),
  /** Body template over the arguments; default: the arguments as JSON (for methods with a body). */
  body: z.unknown().optional(),
});
export type ToolRequest = z.infer<typeof ToolRequest>;
export const CompensateRequest = z.object({
  method: Method,
  url: HttpsTemplate,
  headers: Headers.optional(),
  /** Template over the call's arguments and `{result.…}`, its result. */
  body: z.unknown().optional(),
});
export type CompensateRequest = z.infer<typeof CompensateRequest>;

const toolFields = {
  description: safeString().min(1).max(2000),
  parameters: JsonSchema,
  request: ToolRequest,
  credential: safeString().min(1).max(4096).nullable(),
  sideEffect: z.boolean(),
  compensate: CompensateRequest.nullable(),
  timeoutMs: z.number().int().min(100).max(300_000),
  retries: z.number().int().min(0).max(10),
  /** A catalogue permission the run's caller must hold for this tool to be called. */
  permission: safeString()
    .refine((p) => isPermission(p), 'not a permission of the catalogue')
    .nullable(),
};

export const CreateToolBody = z.object({
  name: ToolName.refine(
    (n) => !BUILTIN_PREFIXES.some((p) => n.startsWith(p)),
    `${BUILTIN_PREFIXES.map((p) => `${p}*`).join(', ')} names are built in`,
  ),
  ...toolFields,
  credential: toolFields.credential.optional(),
  sideEffect: toolFields.sideEffect.default(true),
  compensate: toolFields.compensate.optional(),
  timeoutMs: toolFields.timeoutMs.default(10_000),
  retries: toolFields.retries.default(0),
  permission: toolFields.permission.optional(),
});
export type CreateToolBody = z.infer<typeof CreateToolBody>;
export const PatchToolBody = z.object(toolFields).partial();
export type PatchToolBody = z.infer<typeof PatchToolBody>;

export const ToolView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  parameters: z.record(z.string(), z.unknown()),
  request: ToolRequest,
  hasCredential: z.boolean(),
  sideEffect: z.boolean(),
  compensate: CompensateRequest.nullable(),
  timeoutMs: z.number(),
  retries: z.number(),
  permission: z.string().nullable(),
  builtIn: z.boolean(),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export type ToolView = z.infer<typeof ToolView>;

export const InputMessage = z.object({
  role: z.enum(['user', 'assistant', 'system']),
  content: safeString().max(100_000),
});
export const CreateRunBody = z.object({
  input: z.union([safeString().min(1).max(100_000), z.array(InputMessage).min(1).max(100)]),
  stream: z.boolean().optional(),
});
export type CreateRunBody = z.infer<typeof CreateRunBody>;

export const RUN_STATUSES = [
  'queued',
  'running',
  'awaiting_approval',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;
export const TERMINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

export const RunView = z.object({
  id: z.string(),
  agentId: z.string(),
  status: RunStatus,
  output: z.unknown(),
  failureReason: z.string().nullable(),
  usage: z.object({
    promptTokens: z.number(),
    completionTokens: z.number(),
    costUsd: z.number(),
  }),
  steps: z.number(),
  pendingApprovals: z.array(
    z.object({ callId: z.string(), tool: z.string(), arguments: z.unknown() }),
  ),
  startedBy: z
    .object({
      type: z.enum(['user', 'api_key']),
      id: z.string().nullable(),
      role: z.string(),
    })
    .meta({ description: 'Who started the run (an approver sees who asked): a person or a key.' }),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type RunView = z.infer<typeof RunView>;

export const RunEventView = z.object({
  seq: z.number(),
  type: z.string(),
  data: z.unknown(),
  createdAt: z.string(),
});
export type RunEventView = z.infer<typeof RunEventView>;

export const ListRunsQuery = z.object({
  status: RunStatus.optional(),
  agentId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const EventsQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  /** With text/event-stream: also send token deltas of model steps (`event: delta`). */
  deltas: z.enum(['true', 'false']).optional(),
});
export const DecisionBody = z.object({
  decision: z.enum(['approve', 'deny']),
  reason: safeString().max(2000).optional(),
});
export type DecisionBody = z.infer<typeof DecisionBody>;

/** POST /v1/runs/:id/replay: replay a recorded episode (decision 024). */
export const ReplayBody = z.object({
  mode: z.enum(['exact', 'parametric']),
  /** Parametric: the gateway alias the replay's model calls use instead of the recorded one. */
  model: safeString().min(1).max(200).optional(),
  /** Parametric: the agent's instructions for the replay instead of the recorded ones. */
  instructions: safeString().max(20_000).optional(),
});
export type ReplayBody = z.infer<typeof ReplayBody>;

export const ReplayView = z.object({
  runId: z.string(),
  replayRunId: z.string(),
  mode: z.enum(['exact', 'parametric']),
  reproduced: z.boolean(),
  divergence: z.string().nullable(),
  violations: z.array(z.string()),
  recorded: z.object({
    status: z.string(),
    input: z.unknown(),
    output: z.unknown(),
    events: z.number(),
    tools: z.array(z.string()),
  }),
  replayed: z.object({
    status: z.string(),
    output: z.unknown(),
    reason: z.string().nullable(),
    events: z.number(),
    tools: z.array(z.string()),
    approvals: z.number(),
    costUsd: z.number(),
    steps: z.number(),
  }),
  durationMs: z.number(),
});
