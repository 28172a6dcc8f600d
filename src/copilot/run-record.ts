import { createHash } from 'node:crypto';
import { chunkContentHash, type NewRequestRecord } from '../governance/requests-service.js';
import type { AgentSnapshot } from './run-job.js';
import { InputMessages } from './run-job.js';
import { replay } from './replay.js';
import type { EventRow, RunRow } from './runs-store.js';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The template a run's prompt is built from: its agent, versioned by a digest of its snapshot. */
function agentVersion(agent: AgentSnapshot): string {
  return createHash('sha256')
    .update(JSON.stringify([agent.instructions, agent.model, agent.tools, agent.outputSchema]))
    .digest('hex')
    .slice(0, 12);
}

/**
 * A finished run's request record ('run:<run id>'): its input, the chunks its knowledge.search
 * calls put into the model's context (every one counts as cited: the model read them all), the
 * transcript sent to the model, the model that answered last, the output and its totals.
 * knowledge.ask calls inside the run have records of their own ('run:<run id>:<call id>').
 */
export function runRecord(run: RunRow, events: readonly EventRow[], agent: AgentSnapshot) {
  const input = InputMessages.safeParse(run.input);
  const question = input.success
    ? input.data
        .filter((m) => m.role === 'user')
        .map((m) => m.content)
        .join('\n')
    : JSON.stringify(run.input);
  const chunks: NewRequestRecord['chunks'] = [];
  let provider: string | null = null;
  let model: string | null = null;
  let redactions = 0;
  const tools = new Map<string, string>();
  for (const e of events) {
    const d = isRecord(e.data) ? e.data : {};
    if (e.type === 'model.message') {
      provider = str(d.provider) ?? provider;
      model = str(d.model) ?? model;
      redactions += num(d.redactions);
    }
    if (e.type === 'tool.call.requested') tools.set(String(d.callId), String(d.tool));
    if (e.type !== 'tool.call.succeeded' || d.tool !== 'knowledge.search') continue;
    for (const h of Array.isArray(d.result) ? d.result : []) {
      if (!isRecord(h) || typeof h.chunkId !== 'string' || typeof h.text !== 'string') continue;
      if (chunks.some((c) => c.chunkId === h.chunkId)) continue;
      chunks.push({
        chunkId: h.chunkId,
        documentId: String(h.documentId),
        title: String(h.title),
        score: typeof h.score === 'number' ? h.score : null,
        contentHash: chunkContentHash(h.text),
        cited: true,
      });
    }
  }
  const transcript = [
    ...(agent.instructions ? [{ role: 'system', content: agent.instructions }] : []),
    ...(input.success ? input.data : []),
    ...replay(events).messages,
  ];
  const finished = run.finished_at ? new Date(run.finished_at).getTime() : Date.now();
  return {
    requestId: `run:${run.id}`,
    kind: 'copilot_run' as const,
    userId: run.caller_user_id,
    keyId: run.caller_key_id,
    question,
    chunks,
    promptTemplate: `agent:${run.agent_id}`,
    promptVersion: agentVersion(agent),
    promptRendered: transcript,
    modelAlias: agent.model,
    provider,
    model,
    answer:
      run.status === 'succeeded' ? run.output : { status: run.status, reason: run.failure_reason },
    citations: [],
    promptTokens: Number(run.prompt_tokens),
    completionTokens: Number(run.completion_tokens),
    costUsd: Number(run.cost_usd),
    redactions,
    timings: { totalMs: finished - new Date(run.created_at).getTime(), steps: run.steps },
  } satisfies NewRequestRecord;
}
