import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Attempt } from '../invoke/attempts.js';
import type { Usage } from '../providers/types.js';

const tracer = trace.getTracer('rampart.gateway');

function hostOf(attempt: Attempt): { address: string; port: number | undefined } | undefined {
  try {
    const u = new URL(attempt.config.baseUrl);
    return { address: u.hostname, port: u.port ? Number(u.port) : undefined };
  } catch {
    return undefined;
  }
}

/**
 * Starts the GenAI client span of one gateway call, a child of the active (request) span, with
 * the OpenTelemetry GenAI semantic-convention attributes known before the call. Prompt and
 * completion text are never recorded. Without tracing the API's no-op span costs nothing.
 */
export function startGenAiSpan(req: {
  endpoint: 'chat' | 'embeddings';
  alias: string;
  maxTokens?: unknown;
  temperature?: unknown;
}): Span {
  const operation = req.endpoint === 'chat' ? 'chat' : 'embeddings';
  const span = tracer.startSpan(`${operation} ${req.alias}`, { kind: SpanKind.CLIENT });
  if (!span.isRecording()) return span;
  span.setAttribute('gen_ai.operation.name', operation);
  span.setAttribute('gen_ai.request.model', req.alias);
  if (typeof req.maxTokens === 'number')
    span.setAttribute('gen_ai.request.max_tokens', req.maxTokens);
  if (typeof req.temperature === 'number')
    span.setAttribute('gen_ai.request.temperature', req.temperature);
  return span;
}

/** Ends the span with what the call came to: target, usage, and error.type on failure. */
export function endGenAiSpan(
  span: Span,
  at: {
    attempt: Attempt | undefined;
    usage: Usage;
    status: number;
    cacheHit?: boolean | undefined;
    estimated?: boolean | undefined;
  },
): void {
  if (span.isRecording()) {
    const cacheHit = at.cacheHit === true;
    const a = at.attempt;
    if (a) {
      // gen_ai.system is the long-standing name; gen_ai.provider.name its successor.
      span.setAttribute('gen_ai.system', a.adapter.type);
      span.setAttribute('gen_ai.provider.name', a.adapter.type);
      span.setAttribute('gen_ai.response.model', a.model);
      span.setAttribute('rampart.gateway.provider', a.provider);
      const host = cacheHit ? undefined : hostOf(a);
      if (host) {
        span.setAttribute('server.address', host.address);
        if (host.port !== undefined) span.setAttribute('server.port', host.port);
      }
    }
    span.setAttribute('rampart.gateway.cache_hit', cacheHit);
    if (at.status < 400) {
      span.setAttribute('gen_ai.usage.input_tokens', at.usage.promptTokens);
      span.setAttribute('gen_ai.usage.output_tokens', at.usage.completionTokens);
      if (at.estimated === true) span.setAttribute('rampart.gateway.usage_estimated', true);
    } else {
      // A status code is a valid error.type (semantic conventions: low-cardinality class).
      span.setAttribute('error.type', String(at.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }
  span.end();
}
