import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { queueMetrics } from './metrics.js';
import { serveWorkerMetrics, type WorkerMetricsServer } from './worker-metrics.js';

describe('serveWorkerMetrics', () => {
  let server: WorkerMetricsServer | undefined;
  afterEach(async () => server?.close());

  it("serves the worker's counters on GET /metrics, behind the metrics token when one is set", async () => {
    const registry = new Registry();
    queueMetrics(registry).jobFailed('knowledge.ingest', 'retry');
    server = await serveWorkerMetrics(registry, {
      host: '127.0.0.1',
      port: 0,
      token: 'scrape-token-123',
    });
    const url = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong-token' } })).status,
    ).toBe(401);
    const ok = await fetch(`${url}/metrics`, {
      headers: { authorization: 'Bearer scrape-token-123' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain(
      'rampart_job_failures_total{kind="knowledge.ingest",outcome="retry"} 1',
    );
    expect((await fetch(`${url}/other`)).status).toBe(404);
  });

  it('serves without a token when none is configured, to local clients only', async () => {
    server = await serveWorkerMetrics(new Registry(), { host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${server.port}/metrics`;
    expect((await fetch(url)).status).toBe(200);
    // A proxy on this host relaying someone else's scrape.
    const relayed = await fetch(url, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(relayed.status).toBe(403);
    expect(await relayed.text()).toMatch(/set METRICS_TOKEN/);
  });
});
