import { randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Span,
} from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { accessLogger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    traceId: string;
    span?: Span;
  }
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}

/**
 * Per-request telemetry: the request id header, one structured log line per request, the
 * duration histogram, and (when tracing is on) a server span that is the active context for
 * everything the request does, tagged with tenant.id once the caller is known.
 */
export function installRequestTelemetry(
  app: FastifyInstance,
  opts: { metrics: Metrics; tracing: boolean },
): void {
  const tracer = opts.tracing ? trace.getTracer('rampart.http') : undefined;
  const access = accessLogger(app.log as Logger);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    if (!tracer) {
      const incoming = request.headers.traceparent;
      const m = typeof incoming === 'string' ? TRACEPARENT.exec(incoming) : null;
      request.traceId = m?.[1] ?? randomUUID().replaceAll('-', '');
      done();
      return;
    }
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = tracer.startSpan(
      `${request.method}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.url.split('?')[0],
          'client.address': request.ip,
        },
      },
      parent,
    );
    request.span = span;
    request.traceId = span.spanContext().traceId;
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = routeOf(request);
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    opts.metrics.httpDuration.observe(
      { route, method: request.method, status_code: String(status) },
      seconds,
    );
    const tenantId = request.principal?.tenantId;
    if (request.span) {
      const span = request.span;
      span.updateName(`${request.method} ${route}`);
      span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', status);
      if (tenantId) span.setAttribute('tenant.id', tenantId);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    access.info(
      {
        reqId: request.id,
        traceId: request.traceId,
        tenantId: tenantId ?? null,
        method: request.method,
        route,
        status,
        durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
      },
      'request',
    );
    done();
  });
}
