import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { METRICS_REFUSAL_MESSAGE, metricsRefusal } from '../http/metrics-access.js';

export interface WorkerMetricsServer {
  /** The bound port (useful when asked for port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * GET /metrics for a `rampart worker` process. The counters a worker keeps (job failures,
 * chunks indexed) live in its own memory, so Prometheus must scrape each worker as well as the
 * API; the API's /metrics already reports the database-wide gauges. Same access rule as the API
 * (metrics-access.ts).
 */
export async function serveWorkerMetrics(
  registry: Registry,
  opts: { host: string; port: number; token?: string | undefined },
): Promise<WorkerMetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const refusal = metricsRefusal(opts.token, req);
    if (refusal) {
      const status = refusal === 'metrics_token_required' ? 401 : 403;
      res
        .writeHead(status, { 'content-type': 'text/plain' })
        .end(`${METRICS_REFUSAL_MESSAGE[refusal]}\n`);
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
