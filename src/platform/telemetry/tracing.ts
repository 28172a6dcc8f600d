import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface Tracing {
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK with an OTLP/HTTP exporter. Spans come from Rampart's own code
 * (HTTP hooks, the database wrapper, services); when this is not called, the API's no-op
 * tracer makes every span call free.
 */
export function startTracing(opts: { endpoint: string; serviceName: string }): Tracing {
  const base = opts.endpoint.replace(/\/+$/, '');
  const exporter = new OTLPTraceExporter({
    url: base.endsWith('/v1/traces') ? base : `${base}/v1/traces`,
  });
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })],
    instrumentations: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
