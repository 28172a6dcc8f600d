/**
 * Issue #29, online quality: a configurable share of production asks is judged in the background
 * (faithfulness and relevance, through the gateway with the tenant's alias) with a daily cost
 * cap per tenant; the verdicts are metrics; a malformed verdict is an error, never a pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../src/platform/queue/queue.js';
import type { Database } from '../src/platform/db/database.js';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { seedKnowledgeCorpus } from './helpers/knowledge-corpus.js';

const CORPUS = [
  {
    name: 'refunds',
    payload: {
      title: 'Refund policy',
      text: 'Customers may request a refund within 30 days of purchase. Refunds are paid to the original card.',
    },
  },
];
const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const QUESTION = 'How many days do customers have to request a refund?';

async function metric(app: TestApp, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await app.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

const nameOf = (v: object): unknown => ('metricName' in v ? v.metricName : undefined);

function judgeWorker(app: TestApp, db: Database): JobQueue {
  const q = new JobQueue(db, {
    pollIntervalMs: 50,
    concurrency: 1,
    leaseMs: 30_000,
    retryBaseMs: 10,
    retryMaxMs: 50,
  });
  for (const [kind, handler] of Object.entries(app.evals.jobs)) q.register(kind, handler);
  return q;
}

describe.each(testDrivers())('sampled background judge (%s)', (driver) => {
  let t: TestDatabase;
  let fake: ScriptedUpstream;
  const apps: TestApp[] = [];

  async function appWith(env: Record<string, string>): Promise<TestApp> {
    const app = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: MASTER_KEY,
      EVAL_JUDGE_MODEL: 'judge',
      ...env,
    });
    apps.push(app);
    return app;
  }

  /** A tenant with the refund policy and a `judge` alias (priced: gpt-4o-mini) on the fake. */
  async function tenant(app: TestApp) {
    const corpus = await seedKnowledgeCorpus(app, t.db, CORPUS);
    const owner = corpus.tenant.ownerKey;
    const post = async (url: string, payload: object) =>
      app.app.inject({ method: 'POST', url, headers: bearer(owner), payload });
    expect(
      (
        await post('/v1/providers', {
          name: 'main',
          type: 'openai',
          baseUrl: fake.baseUrl,
          apiKey: 'sk-fake',
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await post('/v1/routes', {
          alias: 'judge',
          targets: [{ provider: 'main', model: 'gpt-4o-mini' }],
        })
      ).statusCode,
    ).toBe(201);
    const ask = async () => {
      const r = await post('/v1/ask', { question: QUESTION, mode: 'extractive' });
      expect(r.statusCode).toBe(200);
      return r.json() as { answer: string };
    };
    return { ...corpus, ask };
  }

  beforeAll(async () => {
    fake = await startScriptedUpstream();
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await t?.close();
    await fake?.close();
  });

  it('share=1 judges every answer through the gateway alias; the verdicts are metrics', async () => {
    const app = await appWith({ EVAL_JUDGE_SAMPLE_SHARE: '1' });
    const s = await tenant(app);
    fake.chatReply = (messages) =>
      JSON.stringify(
        messages[0]?.content.includes('faithful') || messages[1]?.content.startsWith('CONTEXT')
          ? { score: 0.9, pass: true, reason: 'supported' }
          : { score: 0.4, pass: false, reason: 'off topic' },
      );
    const before = fake.chatRequests.length;
    const answer = await s.ask();
    await judgeWorker(app, t.db).drain();
    const judged = fake.chatRequests.slice(before);
    expect(judged).toHaveLength(2);
    // Each judge saw its versioned prompt and the real answer, under the tenant's route.
    expect(judged.every((r) => r.model === 'gpt-4o-mini')).toBe(true);
    expect(judged[0]?.messages[1]?.content).toContain(answer.answer);
    expect(judged[0]?.messages[1]?.content).toContain('30 days');
    expect(judged[1]?.messages[1]?.content).toContain(QUESTION);
    expect(
      await metric(app, 'rampart_eval_judge_verdicts_total', {
        judge: 'faithfulness',
        outcome: 'pass',
      }),
    ).toBe(1);
    expect(
      await metric(app, 'rampart_eval_judge_verdicts_total', {
        judge: 'relevance',
        outcome: 'fail',
      }),
    ).toBe(1);
    const score = app.metrics.registry.getSingleMetric('rampart_eval_judge_score');
    const values = (await score?.get())?.values ?? [];
    const sum = values.find(
      (v) => nameOf(v) === 'rampart_eval_judge_score_sum' && v.labels.judge === 'faithfulness',
    );
    expect(sum?.value).toBeCloseTo(0.9);
    // The judging was priced by the gateway and counted against the tenant's day.
    const spend = await t.asOwner((q) =>
      q.query<{ cost_usd: string; judged: number }>(
        'SELECT cost_usd, judged FROM eval_judge_spend WHERE tenant_id = $1',
        [s.tenant.id],
      ),
    );
    expect(spend.rows[0]?.judged).toBe(2);
    expect(Number(spend.rows[0]?.cost_usd)).toBeGreaterThan(0);
  });

  it('a judge whose call fails transiently is retried alone: the other is not called (or metered) again', async () => {
    const app = await appWith({ EVAL_JUDGE_SAMPLE_SHARE: '1', GATEWAY_RETRY_ATTEMPTS: '1' });
    const s = await tenant(app);
    let faithfulness = 0;
    fake.chatReply = (messages) => {
      if (messages[1]?.content.startsWith('CONTEXT')) {
        faithfulness++;
        // The next call (relevance) fails once with a 503; its job's retry then succeeds.
        fake.failNext.push(503);
      }
      return JSON.stringify({ score: 1, pass: true, reason: 'ok' });
    };
    await s.ask();
    // The failed job's retry is due a few milliseconds later: drain until it has run.
    const worker = judgeWorker(app, t.db);
    await expect
      .poll(async () => {
        await worker.drain();
        return metric(app, 'rampart_eval_judge_verdicts_total', { outcome: 'pass' });
      })
      .toBe(2);
    expect(faithfulness).toBe(1);
    expect(fake.failNext).toEqual([]);
    const spend = await t.asOwner((q) =>
      q.query<{ judged: number }>('SELECT judged FROM eval_judge_spend WHERE tenant_id = $1', [
        s.tenant.id,
      ]),
    );
    expect(spend.rows[0]?.judged).toBe(2);
  });

  it('share=0 (the default) judges nothing', async () => {
    const app = await appWith({});
    const s = await tenant(app);
    const before = fake.chatRequests.length;
    await s.ask();
    await s.ask();
    await judgeWorker(app, t.db).drain();
    expect(fake.chatRequests.length).toBe(before);
    expect(await metric(app, 'rampart_eval_judge_verdicts_total', {})).toBe(0);
  });

  it('a malformed verdict is an error, never a pass or a score', async () => {
    const app = await appWith({ EVAL_JUDGE_SAMPLE_SHARE: '1' });
    const s = await tenant(app);
    fake.chatReply = () => 'Looks great to me!';
    await s.ask();
    await judgeWorker(app, t.db).drain();
    expect(await metric(app, 'rampart_eval_judge_verdicts_total', { outcome: 'error' })).toBe(2);
    expect(await metric(app, 'rampart_eval_judge_verdicts_total', { outcome: 'pass' })).toBe(0);
    const values =
      (await app.metrics.registry.getSingleMetric('rampart_eval_judge_score')?.get())?.values ?? [];
    expect(
      values
        .filter((v) => nameOf(v) === 'rampart_eval_judge_score_count')
        .reduce((a, v) => a + v.value, 0),
    ).toBe(0);
  });

  it('the daily cost cap stops judging: the call that reaches it is the last one that day', async () => {
    // A cap smaller than one judge call: the first call reaches it.
    const app = await appWith({
      EVAL_JUDGE_SAMPLE_SHARE: '1',
      EVAL_JUDGE_DAILY_COST_CAP_USD: '0.0000001',
    });
    const s = await tenant(app);
    const other = await tenant(app);
    fake.chatReply = () => JSON.stringify({ score: 1, pass: true, reason: 'ok' });
    const before = fake.chatRequests.length;
    await s.ask();
    await judgeWorker(app, t.db).drain();
    // Faithfulness was judged (and cost more than the cap); relevance was capped.
    expect(fake.chatRequests.length - before).toBe(1);
    expect(await metric(app, 'rampart_eval_judge_verdicts_total', { outcome: 'capped' })).toBe(1);
    // Later answers of that tenant today are not even sampled.
    await s.ask();
    await s.ask();
    await judgeWorker(app, t.db).drain();
    expect(fake.chatRequests.length - before).toBe(1);
    // The cap is per tenant: another tenant is still judged.
    await other.ask();
    await judgeWorker(app, t.db).drain();
    expect(fake.chatRequests.length - before).toBe(2);
  });
});
