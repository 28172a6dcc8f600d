import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import {
  DRIP_MS,
  startFakeOpenAI,
  type FakeUpstream,
  type ReceivedRequest,
} from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const IDLE_MS = 400;
const BREAKER_THRESHOLD = 3;
const BREAKER_COOLDOWN_MS = 1_000;

interface Target {
  provider: string;
  model: string;
}

interface Scenario {
  tenantId: string;
  key: string;
  /** Requests the fake upstream received for this scenario's tenant (by its provider key). */
  hits(): ReceivedRequest[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(testDrivers())('gateway: upstream faults, retries and breakers (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    app = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: MASTER_KEY,
      GATEWAY_RETRY_ATTEMPTS: '2',
      GATEWAY_RETRY_BASE_MS: '10',
      GATEWAY_RETRY_MAX_DELAY_MS: '3000',
      GATEWAY_FIRST_BYTE_TIMEOUT_MS: String(IDLE_MS),
      GATEWAY_IDLE_TIMEOUT_MS: String(IDLE_MS),
      GATEWAY_BREAKER_THRESHOLD: String(BREAKER_THRESHOLD),
      GATEWAY_BREAKER_COOLDOWN_MS: String(BREAKER_COOLDOWN_MS),
      GATEWAY_USAGE_FLUSH_MS: '20',
    });
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  /** A fresh tenant (so breakers and rows are its own) with providers 'main' and 'alt' and a route 'r'. */
  async function scenario(targets: Target[], fallbacks: Target[] = []): Promise<Scenario> {
    const tenant = await app.createTenant();
    const apiKey = `sk-${tenant.slug}-123456`;
    for (const name of ['main', 'alt']) {
      const r = await app.app.inject({
        method: 'POST',
        url: '/v1/providers',
        headers: bearer(tenant.ownerKey),
        payload: { name, type: 'openai', baseUrl: fake.baseUrl, apiKey },
      });
      expect(r.statusCode, r.body).toBe(201);
    }
    const r = await app.app.inject({
      method: 'POST',
      url: '/v1/routes',
      headers: bearer(tenant.ownerKey),
      payload: { alias: 'r', targets: targets.map((x) => ({ ...x, weight: 1 })), fallbacks },
    });
    expect(r.statusCode, r.body).toBe(201);
    return {
      tenantId: tenant.id,
      key: tenant.ownerKey,
      hits: () => fake.requests.filter((q) => q.headers.authorization === `Bearer ${apiKey}`),
    };
  }

  function chat(s: Scenario, content: string, stream = false) {
    return app.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(s.key),
      payload: { model: 'r', messages: [{ role: 'user', content }], stream },
    });
  }

  /** Every usage row of the scenario's tenant (read as the table owner, not through the API). */
  async function usage(s: Scenario) {
    await app.gateway.usage.flush();
    return t.asOwner(async (q) => {
      const { rows } = await q.query<{ request_id: string; status: number; target_model: string }>(
        `SELECT request_id, status, target_model FROM usage_events WHERE tenant_id = $1
          ORDER BY created_at`,
        [s.tenantId],
      );
      return rows;
    });
  }

  it('a 500 is retried on the same target, then the next target answers; one usage row', async () => {
    const s = await scenario(
      [{ provider: 'main', model: 'fail-500' }],
      [{ provider: 'alt', model: 'gpt-4o-mini' }],
    );
    const res = await chat(s, 'hello there');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ choices: [{ message: { content: 'echo: hello there' } }] });
    expect(s.hits().map((h) => h.body.model)).toEqual(['fail-500', 'fail-500', 'gpt-4o-mini']);
    expect(await usage(s)).toMatchObject([
      { request_id: res.headers['x-request-id'], status: 200, target_model: 'gpt-4o-mini' },
    ]);
  });

  it('a transient 500 succeeds on retry without falling back', async () => {
    const s = await scenario(
      [{ provider: 'main', model: 'flaky-500' }],
      [{ provider: 'alt', model: 'gpt-4o-mini' }],
    );
    const res = await chat(s, 'once more');
    expect(res.statusCode, res.body).toBe(200);
    expect(s.hits().map((h) => h.body.model)).toEqual(['flaky-500', 'flaky-500']);
    expect(await usage(s)).toMatchObject([{ status: 200, target_model: 'flaky-500' }]);
  });

  it('a 429 with Retry-After waits at least that long, then succeeds', async () => {
    const s = await scenario([{ provider: 'main', model: 'flaky-429' }]);
    const res = await chat(s, 'patience');
    expect(res.statusCode, res.body).toBe(200);
    const [first, second] = s.hits();
    expect(s.hits()).toHaveLength(2);
    // Retry-After: 1 — a lower bound, never an upper one.
    expect((second as ReceivedRequest).at - (first as ReceivedRequest).at).toBeGreaterThanOrEqual(
      950,
    );
    expect(await usage(s)).toMatchObject([{ status: 200 }]);
  });

  it('a connection reset is retried, then falls back', async () => {
    const s = await scenario(
      [{ provider: 'main', model: 'reset' }],
      [{ provider: 'alt', model: 'gpt-4o-mini' }],
    );
    const res = await chat(s, 'are you there');
    expect(res.statusCode, res.body).toBe(200);
    expect(s.hits().map((h) => h.body.model)).toEqual(['reset', 'reset', 'gpt-4o-mini']);
    expect(await usage(s)).toMatchObject([{ status: 200, target_model: 'gpt-4o-mini' }]);
  });

  it('no response headers before the first-byte timeout: retried, then a clear 504', async () => {
    const s = await scenario([{ provider: 'main', model: 'hang' }]);
    const res = await chat(s, 'anyone');
    expect(res.statusCode).toBe(504);
    expect(res.json()).toMatchObject({
      error: { code: 'upstream_timeout', message: expect.stringContaining('main') },
    });
    expect(s.hits()).toHaveLength(2);
    expect(await usage(s)).toMatchObject([{ status: 504, target_model: 'hang' }]);
  });

  it('a stream that stalls mid-way ends with an error event after the idle timeout; no retry', async () => {
    const s = await scenario(
      [{ provider: 'main', model: 'slow-stream' }],
      [{ provider: 'alt', model: 'gpt-4o-mini' }],
    );
    const res = await chat(s, 'tell me', true);
    expect(res.statusCode).toBe(200);
    const events = res.body.split('\n\n').filter(Boolean);
    expect(events[0]).toContain('"role":"assistant"');
    expect(JSON.parse((events.at(-1) as string).slice(6))).toMatchObject({
      error: { code: 'upstream_stream_failed' },
    });
    expect(res.body).not.toContain('[DONE]');
    expect(s.hits().map((h) => h.body.model)).toEqual(['slow-stream']);
    expect(await usage(s)).toMatchObject([{ status: 504, target_model: 'slow-stream' }]);
  });

  it('malformed JSON from the upstream is a clear 502, not retried', async () => {
    const s = await scenario([{ provider: 'main', model: 'malformed' }]);
    const res = await chat(s, 'parse this');
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({
      error: { message: "Provider 'main' sent a malformed response." },
    });
    expect(s.hits()).toHaveLength(1);
    expect(await usage(s)).toMatchObject([{ status: 502 }]);
  });

  it('a slow-drip stream longer than the idle timeout completes while bytes keep flowing', async () => {
    expect(DRIP_MS).toBeLessThan(IDLE_MS);
    const s = await scenario([{ provider: 'main', model: 'drip-stream' }]);
    const res = await chat(s, 'one two three four five six seven', true);
    expect(res.statusCode).toBe(200);
    const text = res.body
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] })
      .map((c) => c.choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe('echo: one two three four five six seven');
    expect(res.body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await usage(s)).toMatchObject([{ status: 200 }]);
  });

  it('when every target fails: an OpenAI-shaped 502 and exactly one usage row', async () => {
    const s = await scenario(
      [{ provider: 'main', model: 'fail-500' }],
      [{ provider: 'alt', model: 'fail-500' }],
    );
    const res = await chat(s, 'doomed');
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({
      error: {
        code: 'upstream_unavailable',
        message: expect.stringContaining('Every upstream target failed'),
      },
    });
    expect(s.hits()).toHaveLength(4);
    expect(await usage(s)).toMatchObject([
      { request_id: res.headers['x-request-id'], status: 502 },
    ]);
  });

  it('after K consecutive failures the breaker skips the target without contacting it', async () => {
    const s = await scenario(
      [{ provider: 'main', model: 'fail-500' }],
      [{ provider: 'alt', model: 'gpt-4o-mini' }],
    );
    const failing = () => s.hits().filter((h) => h.body.model === 'fail-500').length;
    expect((await chat(s, 'a')).statusCode).toBe(200); // failures 1, 2
    expect((await chat(s, 'b')).statusCode).toBe(200); // failure 3 opens the breaker
    expect(failing()).toBe(BREAKER_THRESHOLD);
    expect((await chat(s, 'c')).statusCode).toBe(200);
    expect(failing()).toBe(BREAKER_THRESHOLD); // skipped: straight to the fallback
    await sleep(BREAKER_COOLDOWN_MS + 200);
    expect((await chat(s, 'd')).statusCode).toBe(200);
    expect(failing()).toBe(BREAKER_THRESHOLD + 1); // one half-open probe, which fails again
    const rows = await usage(s);
    expect(rows).toHaveLength(4);
    expect(rows.every((r) => r.status === 200 && r.target_model === 'gpt-4o-mini')).toBe(true);
  });
});
