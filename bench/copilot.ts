/**
 * Copilot runtime benchmark (issue #23; not a test). One process, one run, side by side with
 * the same fake OpenAI-compatible upstream script (a tool call, then an answer) and the same
 * fake action server:
 *
 *   minimal loop   calls the gateway's chat completions in-process (`gateway.calls.chat`, so
 *                  routing, limits and the usage ledger still run), calls the action over HTTP,
 *                  calls the model again: no event log, no queue, no lease
 *   copilot run    POST /v1/agents/:id/runs, then the run's job on the durable queue: every
 *                  event written ahead, the lease renewed, the log replayed, metrics and spans
 *
 * at concurrency 1 and 32 (closed loop): per-step time (p50/p99 of a run's latency / its two
 * model steps), the process CPU per step (PGlite runs in this process; with TEST_DATABASE_URL
 * the PostgreSQL server's CPU is not counted), and completed runs per second. Then the cost of
 * --paused runs awaiting approval: rows, table sizes, this process's heap, and jobs held.
 *
 *   npm run bench:copilot -- [--runs 200] [--concurrency 1,32] [--paused 10000]
 *
 * Prints figures; a goal missed is reported, never a failure.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { ROLE_PERMISSIONS } from '../src/identity/index.js';
import type { ChatMessage } from '../src/gateway/index.js';
import type { Principal } from '../src/platform/http/principal.js';
import { JobQueue } from '../src/platform/queue/queue.js';
import { RUN_JOB } from '../src/copilot/index.js';
import { startAgentUpstream } from '../test/fakes/fake-openai-agent.js';
import { startActionServer } from '../test/fakes/fake-action-server.js';
import { createTestApp } from '../test/helpers/app.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { apiClient } from '../test/helpers/identity-api.js';
import { table } from './gateway/report.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '1,32' },
    paused: { type: 'string', default: '10000' },
  },
});
const RUNS = Number(args.runs);
const CONCURRENCY = args.concurrency.split(',').map(Number);
const PAUSED = Number(args.paused);
const env = process.env;
const STEPS = 2;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const f = (n: number, d = 2): string => n.toFixed(d);

const driver = env.TEST_DATABASE_URL ? 'postgres' : 'pglite';
const t = await createTestDatabase(driver);
const app = await createTestApp(t.db, {
  LOG_LEVEL: 'warn',
  RAMPART_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
  COPILOT_MAX_CONCURRENT_RUNS_PER_TENANT: '100000',
});
const upstream = await startAgentUpstream();
const action = await startActionServer();
action.respond = () => ({ status: 200, body: { stock: 3 } });
// The script both loops follow: ask for the tool, then answer once its result is in.
upstream.script = (req) =>
  req.messages.some((m) => m.role === 'tool')
    ? { content: 'There are 3 in stock.' }
    : { toolCalls: [{ name: 'stock_lookup', arguments: { item: 'book' } }] };

const call = apiClient(app);
const tenant = await app.createTenant();
const ok = async <T>(method: 'POST' | 'GET', url: string, key: string, body?: unknown) => {
  const r = await call(method, url, key, body);
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${r.text}`);
  return r.body as T;
};
const owner = tenant.ownerKey;
await ok('POST', '/v1/providers', owner, {
  name: 'main',
  type: 'openai',
  baseUrl: upstream.baseUrl,
  apiKey: 'sk-fake',
});
await ok('POST', '/v1/routes', owner, {
  alias: 'agent',
  targets: [{ provider: 'main', model: 'gpt-4o-mini', weight: 1 }],
});
const key = await ok<{ id: string; secret: string }>('POST', '/v1/api-keys', owner, {
  name: 'bench',
  role: 'member',
});
const PARAMS = {
  type: 'object',
  properties: { item: { type: 'string' } },
  required: ['item'],
  additionalProperties: false,
};
await ok('POST', '/v1/tools', owner, {
  name: 'stock.lookup',
  description: 'Stock of an item.',
  parameters: PARAMS,
  request: { method: 'GET', url: `${action.baseUrl}/stock/{item}` },
  sideEffect: false,
});
const agentFor = async (policy: 'always' | 'ask') =>
  (
    await ok<{ id: string }>('POST', '/v1/agents', owner, {
      name: `bench-${policy}`,
      instructions: 'You check stock.',
      model: 'agent',
      tools: [{ name: 'stock.lookup', policy }],
    })
  ).id;
const agent = await agentFor('always');

// --- the minimal loop
const principal: Principal = {
  kind: 'api_key',
  tenantId: tenant.id,
  tenantSlug: tenant.slug,
  userId: null,
  keyId: key.id,
  role: 'member',
  permissions: ROLE_PERMISSIONS.member,
  groups: [],
};
const tools = [
  { type: 'function' as const, function: { name: 'stock_lookup', parameters: PARAMS } },
];
let loopN = 0;
async function minimalLoop(): Promise<void> {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You check stock.' },
    { role: 'user', content: 'How many books?' },
  ];
  const id = ++loopN;
  for (let step = 1; step <= 4; step++) {
    const out = await app.gateway.calls.chat(
      principal,
      { model: { alias: 'agent' }, messages, tools },
      { requestId: `loop:${id}:${step}` },
    );
    if (out.toolCalls.length === 0) return;
    messages.push({ role: 'assistant', content: out.content, tool_calls: out.toolCalls });
    for (const c of out.toolCalls) {
      const item = String((JSON.parse(c.function.arguments) as { item: string }).item);
      const res = await request(`${action.baseUrl}/stock/${encodeURIComponent(item)}`, {
        headers: { 'idempotency-key': `loop:${id}:${c.id}` },
      });
      messages.push({ role: 'tool', tool_call_id: c.id, content: await res.body.text() });
    }
  }
  throw new Error('the minimal loop did not finish');
}

// --- the copilot run: created over the API, driven by a queue worker
const waiting = new Map<string, () => void>();
const found = app.copilot.jobs[RUN_JOB];
if (!found) throw new Error('no copilot job handler');
const handler = found;
/** Runs whose job ended before their create call returned (the worker is that quick). */
const finishedEarly = new Set<string>();
const jobMs: number[] = [];
const createMs: number[] = [];
function startWorker(concurrency: number): JobQueue {
  const q = new JobQueue(t.db, {
    pollIntervalMs: 10,
    concurrency,
    leaseMs: 30_000,
    retryBaseMs: 10,
    retryMaxMs: 50,
  });
  q.register(RUN_JOB, {
    run: async (job) => {
      const h0 = performance.now();
      await handler.run(job);
      jobMs.push(performance.now() - h0);
      const runId = (job.payload as { runId?: unknown }).runId;
      if (typeof runId !== 'string') return;
      const wake = waiting.get(runId);
      if (wake) wake();
      else finishedEarly.add(runId);
    },
    onDead: handler.onDead,
  });
  return q;
}
const runIds: string[] = [];

async function copilotRun(agentId = agent): Promise<void> {
  const c0 = performance.now();
  const run = await ok<{ id: string }>('POST', `/v1/agents/${agentId}/runs`, key.secret, {
    input: 'How many books?',
  });
  createMs.push(performance.now() - c0);
  runIds.push(run.id);
  if (finishedEarly.delete(run.id)) return;
  await new Promise<void>((resolve) => waiting.set(run.id, resolve));
  waiting.delete(run.id);
}

async function closedLoop(
  concurrency: number,
  total: number,
  one: () => Promise<void>,
): Promise<{ latencies: number[]; seconds: number; cpuMs: number }> {
  const latencies: number[] = [];
  let started = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        const s = performance.now();
        await one();
        latencies.push(performance.now() - s);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return {
    latencies,
    seconds: (performance.now() - t0) / 1000,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

const rows: string[][] = [];
const goal: string[][] = [];
for (const c of CONCURRENCY) {
  // Warm both paths (JIT, pools, prepared plans) before measuring.
  await closedLoop(c, Math.min(40, RUNS), minimalLoop);
  const worker = startWorker(c);
  await worker.start();
  await closedLoop(c, Math.min(40, RUNS), () => copilotRun());
  const loop = await closedLoop(c, RUNS, minimalLoop);
  const runtime = await closedLoop(c, RUNS, () => copilotRun());
  await worker.stop(5_000);
  for (const [name, r] of [
    ['minimal loop', loop],
    ['copilot run', runtime],
  ] as const)
    rows.push([
      name,
      String(c),
      f(pct(r.latencies, 50) / STEPS),
      f(pct(r.latencies, 99) / STEPS),
      f(r.cpuMs / (RUNS * STEPS)),
      f(RUNS / r.seconds, 1),
    ]);
  const over = (a: number, b: number) => `${f(((a - b) / b) * 100, 0)}%`;
  goal.push([
    String(c),
    over(pct(runtime.latencies, 50), pct(loop.latencies, 50)),
    over(runtime.cpuMs, loop.cpuMs),
    over(runtime.seconds, loop.seconds),
  ]);
}

// Every measured run must have succeeded, or the figures describe something else.
const statuses = new Map<string, number>();
for (const id of runIds) {
  const r = await ok<{ status: string }>('GET', `/v1/runs/${id}`, key.secret);
  statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
}

console.log(
  `\ncopilot bench — ${driver}, ${RUNS} runs per row, ${STEPS} model steps + 1 tool call per run\n`,
);
console.log(
  table(['path', 'concurrency', 'ms/step p50', 'ms/step p99', 'CPU ms/step', 'runs/s'], rows),
);
console.log('\nruntime over the minimal loop (goal: at most 25% per step)\n');
console.log(table(['concurrency', 'latency p50', 'CPU', 'wall time for the same runs'], goal));
console.log(
  `\ncopilot run, split: POST /v1/agents/:id/runs p50 ${f(pct(createMs, 50))} ms, its job p50 ${f(pct(jobMs, 50))} ms (all measured and warm-up runs)`,
);
console.log(
  `load average while measuring: ${loadavg()
    .map((x) => f(x, 1))
    .join(' ')} on ${cpus().length} cores`,
);
console.log(`\nmeasured runs by status: ${JSON.stringify(Object.fromEntries(statuses))}`);

// --- runs paused awaiting approval: what they hold
const askAgent = await agentFor('ask');
const counts = async () =>
  t.asOwner(async (q) => {
    const one = async (sql: string) => Number((await q.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
    return {
      runs: await one(`SELECT count(*) AS n FROM runs WHERE status = 'awaiting_approval'`),
      events: await one(`SELECT count(*) AS n FROM run_events`),
      approvals: await one(`SELECT count(*) AS n FROM approvals WHERE status = 'pending'`),
      jobsHeld: await one(`SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running')`),
      bytes: await one(
        `SELECT sum(pg_total_relation_size(c)) AS n FROM unnest(ARRAY['runs','run_events','approvals']::regclass[]) AS c`,
      ),
    };
  });
const heap = () => {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
};
const before = await counts();
const heapBefore = heap();
const pausedWorker = startWorker(32);
await pausedWorker.start();
const pauseStarted = performance.now();
// 32 clients at a time: the API's database pool is the limit, not the runs.
await closedLoop(32, PAUSED, () => copilotRun(askAgent));
const pauseSeconds = (performance.now() - pauseStarted) / 1000;
await pausedWorker.stop(5_000);
const after = await counts();
const heapAfter = heap();

const paused = after.runs - before.runs;
console.log(`\n${paused} runs paused awaiting approval (made in ${f(pauseSeconds, 1)} s)\n`);
console.log(
  table(
    ['what', 'total', 'per paused run'],
    [
      ['pending approvals', String(after.approvals - before.approvals), '1'],
      [
        'event rows',
        String(after.events - before.events),
        f((after.events - before.events) / paused, 1),
      ],
      [
        'runs + events + approvals, bytes on disk',
        String(after.bytes - before.bytes),
        f((after.bytes - before.bytes) / paused, 0),
      ],
      [
        `heap of this process${globalThis.gc ? '' : ' (no --expose-gc: approximate)'}`,
        String(heapAfter - heapBefore),
        f((heapAfter - heapBefore) / paused, 0),
      ],
      ['jobs queued or running', String(after.jobsHeld), '-'],
    ],
  ),
);

await app.close();
await upstream.close();
await action.close();
await t.close();
