import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';
import { tenantWithFakeProvider } from './helpers/gateway-setup.js';

const MASTER_KEY = Buffer.alloc(32, 12).toString('base64');
const BOUND = 10;

/** The distinct values of `label` over the samples of every metric named with `prefix`. */
function labelValues(text: string, prefix: string, label: string): Set<string> {
  const values = new Set<string>();
  const re = new RegExp(`[{,]${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = re.exec(line);
    if (m) values.add(m[1]!);
  }
  return values;
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function networkAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe.each(testDrivers())('/metrics: bounded labels and who may read it (%s)', (driver) => {
  let t: TestDatabase;
  let fake: FakeUpstream;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake?.close();
    await t?.close();
  });

  describe('made-up model names through a * route', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(t.db, {
        RAMPART_MASTER_KEY: MASTER_KEY,
        METRICS_LABEL_VALUES_MAX: String(BOUND),
      });
    });
    afterAll(async () => app?.close());

    it('keep the first values of alias and model and record the rest as other', async () => {
      const { tenant, send } = await tenantWithFakeProvider(app, fake);
      await send('POST', '/v1/routes', {
        alias: '*',
        targets: [{ provider: 'main', model: '*', weight: 1 }],
      });
      const scrape = async () => {
        const r = await app.app.inject({ method: 'GET', url: '/metrics' });
        expect(r.statusCode).toBe(200);
        return r.body;
      };
      const askRandomModels = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const r = await app.app.inject({
            method: 'POST',
            url: '/v1/chat/completions',
            headers: bearer(tenant.ownerKey),
            payload: {
              model: `made-up-${randomBytes(6).toString('hex')}`,
              messages: [{ role: 'user', content: 'hi' }],
            },
          });
          expect(r.statusCode, r.body).toBe(200);
        }
      };

      // A scrape first, so its own GET /metrics series exists before the counts compared below.
      await scrape();
      await askRandomModels(30);
      const first = await scrape();
      for (const label of ['alias', 'model']) {
        const values = labelValues(first, 'rampart_gateway_', label);
        // The BOUND kept names plus `other`.
        expect(values.size, label).toBeLessThanOrEqual(BOUND + 1);
        expect(values.has('other'), label).toBe(true);
      }
      const other = first
        .split('\n')
        .find(
          (l) => l.startsWith('rampart_gateway_requests_total{') && l.includes('alias="other"'),
        );
      expect(other).toMatch(/model="other".* (\d+)$/);
      expect(Number(other?.slice(other.lastIndexOf(' ') + 1))).toBe(30 - BOUND);

      // Thirty more names add no gateway line: they all land in the `other` series. (Node's
      // own metrics can gain a line meanwhile, a new kind of garbage collection say.)
      const gatewayLines = (text: string) =>
        text.split('\n').filter((l) => l.startsWith('rampart_gateway_'));
      await askRandomModels(30);
      const second = await scrape();
      expect(gatewayLines(second).length).toBe(gatewayLines(first).length);
    });
  });

  describe('with METRICS_TOKEN set', () => {
    let app: TestApp;
    const token = 'metrics-token-0123456789';
    beforeAll(async () => {
      app = await createTestApp(t.db, { METRICS_TOKEN: token });
    });
    afterAll(async () => app?.close());

    it('refuses a scrape without the token (401) and serves one with it, from anywhere', async () => {
      const none = await app.app.inject({ method: 'GET', url: '/metrics' });
      expect(none.statusCode).toBe(401);
      expect(none.json()).toMatchObject({ code: 'metrics_token_required' });
      const remote = { remoteAddress: '203.0.113.7' };
      const ok = await app.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: bearer(token),
        ...remote,
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('rampart_http_request_duration_seconds');
    });
  });

  describe('without METRICS_TOKEN (the default)', () => {
    let app: TestApp;
    let address: string;
    beforeAll(async () => {
      app = await createTestApp(t.db);
      // Every interface, so the same server can be reached on loopback and on the network.
      address = await app.app.listen({ host: '0.0.0.0', port: 0 });
    });
    afterAll(async () => app?.close());

    it('serves a local scraper and refuses the network and anything a proxy relays (403)', async () => {
      const port = new URL(address).port;
      const local = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(local.status).toBe(200);
      expect(await local.text()).toContain('rampart_http_request_duration_seconds');

      const relayed = await fetch(`http://127.0.0.1:${port}/metrics`, {
        headers: { 'x-forwarded-for': '203.0.113.7' },
      });
      expect(relayed.status).toBe(403);
      const problem = (await relayed.json()) as { code: string };
      expect(problem.code).toBe('metrics_loopback_only');

      const remote = await app.app.inject({
        method: 'GET',
        url: '/metrics',
        remoteAddress: '203.0.113.7',
      });
      expect(remote.statusCode).toBe(403);
      expect(remote.body).not.toContain('rampart_');

      // The same server reached on a network interface of this machine (when it has one).
      const lan = networkAddress();
      if (lan) expect((await fetch(`http://${lan}:${port}/metrics`)).status).toBe(403);
    });
  });
});
