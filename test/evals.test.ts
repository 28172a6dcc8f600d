import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalCompare, evalRun, EXIT } from '../src/evals/command.js';
import { httpClient, injectClient } from '../src/evals/index.js';
import { OutboundHttp } from '../src/platform/net/outbound-http.js';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { seedKnowledgeCorpus, type SeededCorpus } from './helpers/knowledge-corpus.js';

const CORPUS = [
  {
    name: 'refunds',
    payload: {
      title: 'Refund policy',
      text: 'Customers may request a refund within 30 days of purchase. Refunds are paid to the original card.',
    },
  },
  {
    name: 'shipping',
    payload: {
      title: 'Shipping guide',
      text: 'Orders ship within two business days. Express shipping arrives the next day.',
    },
  },
];

const ASK_CASES = [
  {
    id: 'refund-window',
    target: 'ask',
    input: 'How many days do customers have to request a refund?',
    expect: { contains: ['30 days'], sources: ['Refund policy'] },
  },
  {
    id: 'shipping-time',
    target: 'ask',
    input: { question: 'How fast do orders ship?' },
    expect: {
      contains: ['two business days'],
      sources: ['Shipping guide'],
      notContains: ['refund'],
    },
  },
];

function capture(): { io: { out(t: string): void; err(t: string): void }; text(): string } {
  let buf = '';
  return { io: { out: (t) => void (buf += t), err: (t) => void (buf += t) }, text: () => buf };
}

describe.each(testDrivers())('evals (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: ScriptedUpstream;
  let corpus: SeededCorpus;
  let other: { id: string; ownerKey: string };
  let dir: string;
  let http: OutboundHttp;
  let baseUrl: string;

  const call = async (key: string, method: 'GET' | 'POST', url: string, payload?: unknown) =>
    app.app.inject({
      method,
      url,
      headers: bearer(key),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const writeDataset = async (name: string, cases: unknown[]): Promise<string> => {
    const file = join(dir, name);
    await writeFile(file, cases.map((c) => JSON.stringify(c)).join('\n'));
    return file;
  };

  beforeAll(async () => {
    fake = await startScriptedUpstream();
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
    corpus = await seedKnowledgeCorpus(app, t.db, CORPUS);
    other = await app.createTenant();
    // A judge alias routed to the scripted upstream: judges are metered tenant model calls.
    const owner = corpus.tenant.ownerKey;
    expect(
      (
        await call(owner, 'POST', '/v1/providers', {
          name: 'main',
          type: 'openai',
          baseUrl: fake.baseUrl,
          apiKey: 'sk-fake',
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await call(owner, 'POST', '/v1/routes', {
          alias: 'judge',
          targets: [{ provider: 'main', model: 'judge-model' }],
        })
      ).statusCode,
    ).toBe(201);
    dir = await mkdtemp(join(tmpdir(), 'rampart-evals-'));
    baseUrl = await app.app.listen({ host: '127.0.0.1', port: 0 });
    http = new OutboundHttp({ allowPrivate: true });
  });
  afterAll(async () => {
    await http?.close();
    await app?.close();
    await t?.close();
    await fake?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stores datasets as versions, refuses duplicate ids, and keeps them per tenant', async () => {
    const owner = corpus.tenant.ownerKey;
    const first = await call(owner, 'POST', '/v1/evals/datasets', {
      name: 'support',
      cases: ASK_CASES,
    });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ name: 'support', version: 1, caseCount: 2 });
    const same = await call(owner, 'POST', '/v1/evals/datasets', {
      name: 'support',
      cases: ASK_CASES,
    });
    expect(same.statusCode).toBe(200);
    expect(same.json()).toMatchObject({ version: 1 });
    const changed = await call(owner, 'POST', '/v1/evals/datasets', {
      name: 'support',
      cases: ASK_CASES.slice(0, 1),
    });
    expect(changed.json()).toMatchObject({ version: 2, caseCount: 1 });
    const v1 = await call(
      owner,
      'GET',
      `/v1/evals/datasets/${(first.json() as { id: string }).id}`,
    );
    expect((v1.json() as { cases: unknown[] }).cases).toHaveLength(2);
    const latest = await call(owner, 'GET', '/v1/evals/datasets/support');
    expect(latest.json()).toMatchObject({ version: 2 });
    const dup = await call(owner, 'POST', '/v1/evals/datasets', {
      name: 'dups',
      cases: [ASK_CASES[0], ASK_CASES[0]],
    });
    expect(dup.statusCode).toBe(400);
    expect(dup.body).toContain('duplicated case ids: refund-window');
    // A member may read, not write, golden sets.
    expect(
      (await call(corpus.plainKey, 'POST', '/v1/evals/datasets', { name: 'x', cases: ASK_CASES }))
        .statusCode,
    ).toBe(403);
    // Another tenant sees none of it, by id or by name.
    expect(
      (
        await call(
          other.ownerKey,
          'GET',
          `/v1/evals/datasets/${(first.json() as { id: string }).id}`,
        )
      ).statusCode,
    ).toBe(404);
    expect((await call(other.ownerKey, 'GET', '/v1/evals/datasets/support')).statusCode).toBe(404);
    expect((await call(other.ownerKey, 'GET', '/v1/evals/datasets')).json()).toEqual({ data: [] });
  });

  it('runs a stored dataset through the API, gates it, and keeps runs to their tenant and starter', async () => {
    const owner = corpus.tenant.ownerKey;
    await call(owner, 'POST', '/v1/evals/datasets', { name: 'api-run', cases: ASK_CASES });
    const res = await call(owner, 'POST', '/v1/evals/runs', {
      dataset: 'api-run',
      failUnder: { score: 0.5 },
    });
    expect(res.statusCode, res.body).toBe(201);
    const run = res.json() as {
      id: string;
      passed: boolean;
      result: { cases: { id: string; pass: boolean; checks: { name: string; score: number }[] }[] };
    };
    expect(run.passed).toBe(true);
    expect(run.result.cases.map((c) => [c.id, c.pass])).toEqual([
      ['refund-window', true],
      ['shipping-time', true],
    ]);
    const checks = run.result.cases[0]?.checks.map((c) => c.name);
    expect(checks).toEqual(['contains', 'recall@5', 'mrr', 'ndcg@10', 'citationPrecision']);
    expect((await call(owner, 'GET', `/v1/evals/runs/${run.id}`)).json()).toMatchObject({
      id: run.id,
      passed: true,
    });
    expect((await call(other.ownerKey, 'GET', `/v1/evals/runs/${run.id}`)).statusCode).toBe(404);
    // Another member of the same tenant did not start it (its outputs quote documents).
    expect((await call(corpus.plainKey, 'GET', `/v1/evals/runs/${run.id}`)).statusCode).toBe(403);
    // Another tenant cannot run this tenant's dataset.
    expect(
      (await call(other.ownerKey, 'POST', '/v1/evals/runs', { dataset: 'api-run' })).statusCode,
    ).toBe(404);
  });

  it('the gate exits 0 on a pass and 1 on a threshold miss, over HTTP and in-process', async () => {
    const file = await writeDataset('pass.jsonl', ASK_CASES);
    const client = httpClient(http, baseUrl, corpus.tenant.ownerKey);
    const out = join(dir, 'pass.json');
    const junit = join(dir, 'pass.xml');
    const c1 = capture();
    expect(
      await evalRun(client, { dataset: file, failUnder: ['score=0.5'], out, junit }, c1.io),
    ).toBe(EXIT.passed);
    expect(c1.text()).toMatch(/refund-window\s+pass/);
    expect(c1.text()).toContain('gate: PASSED');
    expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({
      totals: { cases: 2, passed: 2 },
    });
    expect(await readFile(junit, 'utf8')).toContain(
      '<testcase classname="pass" name="refund-window"',
    );
    const c2 = capture();
    const inProcess = injectClient((o) => app.app.inject(o), bearer(corpus.tenant.ownerKey));
    expect(await evalRun(inProcess, { dataset: file, failUnder: ['score=1.01'] }, c2.io)).toBe(
      EXIT.failed,
    );
    expect(c2.text()).toMatch(/threshold: score 0\.\d{4} is under 1\.01/);
  });

  it('the gate exits 1 on a regressed case, a missing case, a duplicated case and an evaluator error', async () => {
    const client = httpClient(http, baseUrl, corpus.tenant.ownerKey);
    const baseline = join(dir, 'baseline.json');
    const good = await writeDataset('base.jsonl', ASK_CASES);
    expect(await evalRun(client, { dataset: good, out: baseline }, capture().io)).toBe(EXIT.passed);

    // Regression: the same case id now expects something the answer does not contain.
    const regressed = await writeDataset('base.jsonl', [
      { ...ASK_CASES[0], expect: { contains: ['60 days'] } },
      ASK_CASES[1],
    ]);
    const r = capture();
    expect(
      await evalRun(
        client,
        { dataset: regressed, baseline, out: join(dir, 'regressed.json') },
        r.io,
      ),
    ).toBe(EXIT.failed);
    expect(r.text()).toContain(
      'regression: case refund-window passed in the baseline and fails now',
    );
    const cmp = capture();
    expect(await evalCompare(baseline, join(dir, 'regressed.json'), cmp.io)).toBe(EXIT.failed);
    expect(cmp.text()).toMatch(/regressed\s+refund-window: pass 0\.\d{3} -> FAIL 0\.000/);

    // Missing: a case of the baseline is gone from the dataset.
    const fewer = await writeDataset('base.jsonl', [ASK_CASES[0]]);
    const m = capture();
    expect(await evalRun(client, { dataset: fewer, baseline }, m.io)).toBe(EXIT.failed);
    expect(m.text()).toContain('missing: case shipping-time has no result');

    // Duplicated case ids: the dataset itself fails the gate.
    const dup = await writeDataset('dup.jsonl', [ASK_CASES[0], ASK_CASES[0]]);
    const d = capture();
    expect(await evalRun(client, { dataset: dup }, d.io)).toBe(EXIT.failed);
    expect(d.text()).toContain('duplicated case ids: refund-window');

    // Evaluator error: an invalid regex never passes, and neither does a rubric with no judge.
    const broken = await writeDataset('broken.jsonl', [
      { id: 'bad-regex', target: 'ask', input: 'refund', expect: { regex: '(' } },
      { id: 'no-judge', target: 'ask', input: 'refund', expect: { rubric: 'Mentions 30 days.' } },
    ]);
    const e = capture();
    expect(await evalRun(client, { dataset: broken }, e.io)).toBe(EXIT.failed);
    expect(e.text()).toMatch(/bad-regex\s+ERROR/);
    expect(e.text()).toContain('error: case no-judge errored: judge:rubric: no judge model');

    // Usage error: a threshold that names no metric.
    expect(await evalRun(client, { dataset: good, failUnder: ['nope=1'] }, capture().io)).toBe(
      EXIT.usage,
    );
  });

  it('judges through the gateway alias: verdicts pass or fail, malformed verdicts error, repeats vote', async () => {
    const client = httpClient(http, baseUrl, corpus.tenant.ownerKey);
    const file = await writeDataset('judged.jsonl', [
      {
        id: 'rubric',
        target: 'ask',
        input: 'How many days do customers have to request a refund?',
        expect: { rubric: 'States the 30-day refund window.', faithfulness: 0.8, relevance: 0.5 },
      },
    ]);
    fake.chatRequests.length = 0;
    fake.chatReply = () => '{"score": 0.9, "pass": true, "reason": "states 30 days"}';
    const ok = capture();
    expect(
      await evalRun(
        client,
        { dataset: file, judgeModel: 'judge', out: join(dir, 'j.json') },
        ok.io,
      ),
    ).toBe(EXIT.passed);
    const checks = (
      JSON.parse(await readFile(join(dir, 'j.json'), 'utf8')) as {
        cases: { checks: { name: string; pass: boolean; detail: string }[] }[];
      }
    ).cases[0]?.checks;
    expect(checks?.map((c) => [c.name, c.pass])).toEqual([
      ['judge:rubric', true],
      ['judge:faithfulness', true],
      ['judge:relevance', true],
    ]);
    expect(checks?.[0]?.detail).toContain('rubric.v1');
    // The judge saw its versioned prompt and the answer, through the tenant's alias.
    expect(fake.chatRequests).toHaveLength(3);
    expect(fake.chatRequests[0]?.model).toBe('judge-model');
    expect(fake.chatRequests[0]?.messages[0]?.content).toContain('strict evaluator');
    expect(fake.chatRequests[1]?.messages[1]?.content).toContain('CONTEXT:');

    fake.chatReply = () => '{"score": 0.2, "pass": false, "reason": "wrong window"}';
    const failing = capture();
    // A failing case fails the gate through a threshold (or a baseline where it passed).
    const code = await evalRun(
      client,
      { dataset: file, judgeModel: 'judge', failUnder: ['passRate=1'] },
      failing.io,
    );
    expect(failing.text()).toMatch(/rubric\s+FAIL/);
    expect(code).toBe(EXIT.failed);

    for (const malformed of [
      'Looks good to me!',
      '{"score": 1.5, "pass": true, "reason": "x"}',
      '{"pass": true}',
    ]) {
      fake.chatReply = () => malformed;
      const c = capture();
      expect(await evalRun(client, { dataset: file, judgeModel: 'judge' }, c.io)).toBe(EXIT.failed);
      expect(c.text()).toMatch(/rubric\s+ERROR/);
    }

    // Three votes: pass, fail, pass — the majority passes the rubric check.
    const votes = [
      '{"score":1,"pass":true,"reason":"a"}',
      '{"score":0,"pass":false,"reason":"b"}',
      '{"score":1,"pass":true,"reason":"c"}',
    ];
    let n = 0;
    fake.chatReply = (messages) =>
      messages[0]?.content.includes('strict evaluator')
        ? (votes[n++ % 3] ?? '')
        : '{"score":1,"pass":true,"reason":"ok"}';
    const rubricOnly = await writeDataset('vote.jsonl', [
      { id: 'vote', target: 'ask', input: 'refund days?', expect: { rubric: 'r' } },
    ]);
    const v = capture();
    expect(
      await evalRun(
        client,
        { dataset: rubricOnly, judgeModel: 'judge', judgeRepeats: 3, out: join(dir, 'v.json') },
        v.io,
      ),
    ).toBe(EXIT.passed);
    expect(await readFile(join(dir, 'v.json'), 'utf8')).toContain('2/3 pass votes');
  });

  it('scores text-to-SQL by execution match against gold SQL', async () => {
    const owner = corpus.tenant.ownerKey;
    const src = await call(owner, 'POST', '/v1/sql/sources', {
      name: 'demo',
      type: 'sample',
      modelAlias: 'judge',
    });
    expect(src.statusCode, src.body).toBe(201);
    const file = await writeDataset('sql.jsonl', [
      {
        id: 'top-rated',
        target: 'sql',
        input: { source: 'demo', question: 'Which restaurants are rated above 4?' },
        expect: { sql: 'SELECT name FROM restaurant WHERE rating > 4' },
      },
      {
        id: 'ordered',
        target: 'sql',
        input: { source: 'demo', question: 'Restaurants rated above 4, best first' },
        expect: { sql: 'SELECT name FROM restaurant WHERE rating > 4 ORDER BY rating DESC, name' },
      },
    ]);
    // The model writes the same rows in another order: a match unless the gold orders them.
    fake.chatReply = () =>
      '```sql\nSELECT name FROM restaurant WHERE rating > 4 ORDER BY name DESC\n```';
    const out = join(dir, 'sql.json');
    const c = capture();
    await evalRun(httpClient(http, baseUrl, owner), { dataset: file, out }, c.io);
    const result = JSON.parse(await readFile(out, 'utf8')) as {
      cases: { id: string; pass: boolean; checks: { name: string; detail: string }[] }[];
    };
    expect(result.cases.map((x) => [x.id, x.pass])).toEqual([
      ['top-rated', true],
      ['ordered', false],
    ]);
    expect(result.cases[0]?.checks[0]?.name).toBe('sqlExecutionMatch');
    expect(result.cases[1]?.checks[0]?.detail).toContain('(ordered)');
  });

  it('feedback: the asker or an admin may rate an answer, nobody else; summary and metrics count it', async () => {
    const ask = await call(corpus.plainKey, 'POST', '/v1/ask', {
      question: 'How fast do orders ship?',
    });
    expect(ask.statusCode).toBe(200);
    const requestId = String(ask.headers['x-request-id']);
    const notFound = await call(corpus.plainKey, 'POST', '/v1/ask', {
      question: 'zebra migration patterns',
    });
    expect(notFound.json()).toMatchObject({ citations: [] });

    expect(
      (await call(corpus.legalKey, 'POST', '/v1/feedback', { requestId, rating: 'up' })).statusCode,
    ).toBe(403);
    expect(
      (await call(other.ownerKey, 'POST', '/v1/feedback', { requestId, rating: 'up' })).statusCode,
    ).toBe(404);
    const mine = await call(corpus.plainKey, 'POST', '/v1/feedback', {
      requestId,
      rating: 2,
      comment: 'slow',
      tags: ['latency'],
    });
    expect(mine.statusCode, mine.body).toBe(201);
    expect(mine.json()).toEqual({ requestId, score: 0.25 });
    // An admin (the owner) may rate it too; the rating replaces the earlier one.
    expect(
      (
        await call(corpus.tenant.ownerKey, 'POST', '/v1/feedback', {
          requestId,
          rating: 'down',
          tags: ['wrong'],
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await call(corpus.plainKey, 'POST', '/v1/feedback', {
          requestId: 'no-such-request',
          rating: 'up',
        })
      ).statusCode,
    ).toBe(404);

    const audited = await call(
      corpus.tenant.ownerKey,
      'GET',
      '/v1/audit-events?action=feedback.recorded',
    );
    expect(
      (audited.json() as { data: { target: { id: string } }[] }).data.map((e) => e.target.id),
    ).toEqual([requestId, requestId]);

    const summary = (
      await call(corpus.tenant.ownerKey, 'GET', '/v1/feedback/summary?days=1')
    ).json() as Record<string, unknown>;
    expect(summary).toMatchObject({
      rated: 1,
      meanScore: 0,
      up: 0,
      down: 1,
      tags: [{ tag: 'wrong', count: 1 }],
    });
    expect(summary.answered).toBeGreaterThanOrEqual(2);
    expect(summary.unsupported).toBeGreaterThanOrEqual(1);
    expect((await call(other.ownerKey, 'GET', '/v1/feedback/summary')).json()).toMatchObject({
      answered: 0,
      rated: 0,
    });

    const metrics = await app.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/rampart_ask_answers_total\{supported="false"\} [1-9]/);
    expect(metrics.body).toMatch(/rampart_feedback_score_count [1-9]/);
    expect(metrics.body).toMatch(/rampart_retrieval_top_score_psi 0/);
  });
});
