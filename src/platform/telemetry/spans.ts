import { SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';

/**
 * Runs fn inside an active span: child spans and database spans nest under it, a throw is
 * recorded on it as an error (and rethrown), and it always ends.
 */
export function inSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}
