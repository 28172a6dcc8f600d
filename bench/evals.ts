/**
 * Evals benchmark (not a test), two figures each beside a baseline measured in the same run:
 *
 *  1. Deterministic scoring: cases per second for scoring 1,000 cases (contains, notContains,
 *     regex, json assertions, sources: recall@k, MRR, nDCG@10, citation precision), against a
 *     bare loop doing the same string and array work inline.
 *  2. Runner overhead per case: `chat` cases run by the runner (client, target, scoring,
 *     totals) against a fake OpenAI-compatible upstream on 127.0.0.1, against a bare loop of
 *     the same HTTP calls through the same client, one at a time.
 *
 *   npm run bench:evals [-- --cases 1000 --http-cases 500]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { httpClient } from '../src/evals/client.js';
import { datasetHash } from '../src/evals/dataset.js';
import { runDataset } from '../src/evals/runner.js';
import type { EvalCase } from '../src/evals/schemas.js';
import { caseResult, deterministicChecks } from '../src/evals/score.js';
import type { Observation } from '../src/evals/targets.js';
import { OutboundHttp } from '../src/platform/net/outbound-http.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000' },
    'http-cases': { type: 'string', default: '200' },
  },
});
const N = Number(values.cases);
const H = Number(values['http-cases']);

const doc = (i: number) => ({ documentId: `d${i}`, title: `Document ${i}` });
const cases: EvalCase[] = [];
const observations: Observation[] = [];
for (let i = 0; i < N; i++) {
  cases.push({
    id: `c${i}`,
    target: 'ask',
    input: `question ${i}`,
    expect: {
      contains: ['refund', `${i % 30} days`],
      notContains: ['error'],
      regex: ['\\[\\d+\\]'],
      json: [{ path: '$.citations[0].documentId', op: 'exists' }],
      sources: [`d${i % 7}`, `Document ${(i + 3) % 7}`],
    },
  });
  const answer = `Customers may request a refund within ${i % 30} days of purchase [1]. Refunds go to the card [2].`;
  const ranked = Array.from({ length: 10 }, (_, r) => doc((i + r) % 11));
  observations.push({
    text: answer,
    json: { answer, citations: ranked.slice(0, 2) },
    retrieved: ranked,
    cited: ranked.slice(0, 2),
    costUsd: 0,
    latencyMs: 1,
  });
}

function scoreAll(): number {
  let passed = 0;
  for (let i = 0; i < N; i++) {
    const c = cases[i] as EvalCase;
    const obs = observations[i] as Observation;
    if (caseResult(c, obs, deterministicChecks(c, obs)).pass) passed++;
  }
  return passed;
}
/** The same work with no scorer framework: lowercase includes, one regex, set lookups. */
function bareAll(): number {
  let passed = 0;
  const re = /\[\d+\]/u;
  for (let i = 0; i < N; i++) {
    const obs = observations[i] as Observation;
    const t = obs.text.toLowerCase();
    const expected = new Set([`d${i % 7}`, `d${(i + 3) % 7}`]);
    const top = (obs.retrieved ?? []).slice(0, 5).filter((r) => expected.has(r.documentId)).length;
    if (
      t.includes('refund') &&
      t.includes(`${i % 30} days`) &&
      !t.includes('error') &&
      re.test(obs.text) &&
      top > 0
    )
      passed++;
  }
  return passed;
}
function rate(f: () => number, rounds = 20): number {
  f(); // warm up
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) f();
  return (N * rounds) / ((performance.now() - t0) / 1000);
}
const scored = rate(scoreAll);
const bare = rate(bareAll);
console.log(
  `deterministic scoring of ${N} cases: ${Math.round(scored).toLocaleString('en')} cases/s`,
);
console.log(
  `  baseline, the same checks inline:   ${Math.round(bare).toLocaleString('en')} cases/s`,
);

// A fake upstream answering chat completions with a fixed reply.
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'x',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Refunds take 30 days.' },
            finish_reason: 'stop',
          },
        ],
      }),
    );
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const http = new OutboundHttp({ allowPrivate: true });
const client = httpClient(http, base, 'bench-key');
const chatCases: EvalCase[] = Array.from({ length: H }, (_, i) => ({
  id: `h${i}`,
  target: 'chat',
  input: { model: 'm', prompt: `question ${i}` },
  expect: { contains: ['30 days'] },
}));
const dataset = { name: 'bench', hash: datasetHash(chatCases), cases: chatCases };
async function bareHttp(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < H; i++)
    await client('POST', '/v1/chat/completions', {
      model: 'm',
      messages: [{ role: 'user', content: `question ${i}` }],
      temperature: 0,
    });
  return performance.now() - t0;
}
async function runner(): Promise<number> {
  const t0 = performance.now();
  const r = await runDataset(client, dataset, { concurrency: 1 });
  if (r.totals.passed !== H) throw new Error(`expected every case to pass, got ${r.totals.passed}`);
  return performance.now() - t0;
}
await bareHttp(); // warm up connections and JIT
await runner();
// Interleaved rounds, median of each: the machine's load drifts over a run.
const bareRounds: number[] = [];
const runnerRounds: number[] = [];
for (let r = 0; r < 7; r++) {
  bareRounds.push(await bareHttp());
  runnerRounds.push(await runner());
}
const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const perBare = (median(bareRounds) / H) * 1000;
const perRunner = (median(runnerRounds) / H) * 1000;
console.log(
  `runner, ${H} chat cases one at a time:  ${perRunner.toFixed(0)} µs per case (median of 7 rounds)`,
);
console.log(`  baseline, bare loop of the same HTTP calls: ${perBare.toFixed(0)} µs per call`);
console.log(`  runner overhead: ${(perRunner - perBare).toFixed(0)} µs per case`);
await http.close();
server.close();
