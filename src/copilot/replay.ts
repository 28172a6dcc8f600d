import type { ChatMessage } from '../gateway/index.js';
import type { EventRow } from './runs-store.js';

/** A tool call as the model made it, with the run's own id for it (`c<step>_<index>`). */
export interface CallRecord {
  callId: string;
  /** The id the model gave it (echoed back in the tool message). */
  modelCallId: string;
  /** The function name the model used. */
  name: string;
  /** The registry name it maps to, or null for a name the agent does not have. */
  tool: string | null;
  /** The arguments as the model wrote them (JSON text). */
  arguments: string;
}

export type ApprovalState =
  { status: 'pending' } | { status: 'granted' | 'denied'; by: string; reason: string | null };

/** What the event log says about a run: enough to resume it exactly where it stopped. */
export interface Replay {
  started: boolean;
  lastSeq: number;
  /** Assistant and tool messages (and repair prompts) after the instructions and input. */
  messages: ChatMessage[];
  /** The latest model message; its calls without an outcome are the ones still to do. */
  last: { content: string | null; calls: CallRecord[] } | undefined;
  outcomes: Set<string>;
  requested: Set<string>;
  approvals: Map<string, ApprovalState>;
  /** Successful calls in the order they succeeded (what a saga undoes, in reverse). */
  succeeded: { callId: string; tool: string; args: Record<string, unknown>; result: unknown }[];
  compensated: Set<string>;
  repairs: number;
  /** A repair prompt follows the last model message: the model must answer again. */
  repairPending: boolean;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The text a tool message carries back to the model, bounded. */
export function toolMessageContent(value: unknown): string {
  const text = JSON.stringify(value ?? null);
  return text.length > 20_000 ? `${text.slice(0, 20_000)}…(truncated)` : text;
}

export function repairPrompt(errors: readonly string[]): string {
  return `Your final answer must be JSON matching the required JSON Schema. It did not: ${errors.join('; ')}. Answer again with only the corrected JSON.`;
}

/** Folds the event log into the run's state. */
export function replay(events: readonly EventRow[]): Replay {
  const r: Replay = {
    started: false,
    lastSeq: 0,
    messages: [],
    last: undefined,
    outcomes: new Set(),
    requested: new Set(),
    approvals: new Map(),
    succeeded: [],
    compensated: new Set(),
    repairs: 0,
    repairPending: false,
  };
  const modelIds = new Map<string, string>();
  const argsOf = new Map<string, Record<string, unknown>>();
  for (const e of events) {
    r.lastSeq = e.seq;
    const d = isRecord(e.data) ? e.data : {};
    const callId = str(d.callId);
    const toolMessage = (content: unknown) => {
      r.outcomes.add(callId);
      r.messages.push({
        role: 'tool',
        tool_call_id: modelIds.get(callId) ?? callId,
        content: toolMessageContent(content),
      });
    };
    switch (e.type) {
      case 'run.started':
        r.started = true;
        break;
      case 'model.message': {
        const calls: CallRecord[] = (Array.isArray(d.toolCalls) ? d.toolCalls : [])
          .filter(isRecord)
          .map((c) => ({
            callId: str(c.callId),
            modelCallId: str(c.modelCallId),
            name: str(c.name),
            tool: typeof c.tool === 'string' ? c.tool : null,
            arguments: str(c.arguments),
          }));
        for (const c of calls) modelIds.set(c.callId, c.modelCallId);
        const content = typeof d.content === 'string' ? d.content : null;
        r.last = { content, calls };
        r.repairPending = false;
        r.messages.push(
          calls.length
            ? {
                role: 'assistant',
                content,
                tool_calls: calls.map((c) => ({
                  id: c.modelCallId,
                  type: 'function' as const,
                  function: { name: c.name, arguments: c.arguments },
                })),
              }
            : { role: 'assistant', content },
        );
        break;
      }
      case 'tool.call.requested':
        r.requested.add(callId);
        if (isRecord(d.arguments)) argsOf.set(callId, d.arguments);
        break;
      case 'tool.call.succeeded':
        r.succeeded.push({
          callId,
          tool: str(d.tool),
          args: argsOf.get(callId) ?? {},
          result: d.result,
        });
        toolMessage(d.result);
        break;
      case 'tool.call.failed':
        toolMessage({ error: d.error, ...(d.errors ? { errors: d.errors } : {}) });
        break;
      case 'tool.call.denied':
        toolMessage({ error: 'This call was not allowed.', reason: d.reason });
        break;
      case 'approval.requested':
        r.approvals.set(callId, { status: 'pending' });
        break;
      case 'approval.granted':
      case 'approval.denied':
        r.approvals.set(callId, {
          status: e.type === 'approval.granted' ? 'granted' : 'denied',
          by: str(d.by),
          reason: typeof d.reason === 'string' ? d.reason : null,
        });
        break;
      case 'tool.call.compensated':
      case 'tool.compensation.failed':
        r.compensated.add(callId);
        break;
      case 'output.invalid':
        r.repairs += 1;
        r.repairPending = true;
        r.messages.push({
          role: 'user',
          content: repairPrompt(Array.isArray(d.errors) ? d.errors.map(str) : []),
        });
        break;
    }
  }
  return r;
}
