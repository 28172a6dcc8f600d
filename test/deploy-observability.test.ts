// The observability kit (deploy/prometheus/, deploy/grafana/): promtool checks and unit-tests
// the rules, and every metric name in every PromQL expression (rules and dashboards) must be
// one a running `rampart serve` exports, so a renamed metric fails here. Conversely every
// Rampart metric family a running instance exports must be charted on some dashboard: a
// feature that adds metrics adds its panels (or fails this suite).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ROOT_TOKEN } from './helpers/app.js';
import { TEST_REDIS_URL } from './helpers/db.js';
import { exportedNames, metricNames } from './helpers/promql-names.js';
import {
  REPO_ROOT,
  startServe,
  tempDataDir,
  type RampartProcess,
} from './helpers/serve-process.js';

vi.setConfig({ testTimeout: 120_000 });

/** Metrics other exporters provide, which rules may read (kube-state-metrics, Prometheus). */
const EXTERNAL_METRICS = new Set(['up', 'kube_job_status_failed']);
/**
 * Exported only by an instance with REDIS_URL: the instance below gets one when TEST_REDIS_URL is
 * set (CI), so there they are checked like the rest; test/redis-metrics.test.ts checks the names.
 */
const REDIS_ONLY_METRICS = TEST_REDIS_URL
  ? new Set<string>()
  : new Set(['rampart_redis_connected', 'rampart_redis_errors_total']);
/** Rampart metric families deliberately not on any dashboard (none yet). */
const NOT_CHARTED = new Set<string>([]);

const RULES = resolve(REPO_ROOT, 'deploy/prometheus/rules.yaml');
const RULES_TEST = resolve(REPO_ROOT, 'deploy/prometheus/rules.test.yaml');
const DASHBOARDS = resolve(REPO_ROOT, 'deploy/grafana/dashboards');

const Rules = z.object({
  groups: z.array(
    z.object({
      name: z.string(),
      rules: z.array(
        z.object({
          record: z.string().optional(),
          alert: z.string().optional(),
          expr: z.string(),
          annotations: z.record(z.string(), z.string()).optional(),
          labels: z.record(z.string(), z.string()).optional(),
        }),
      ),
    }),
  ),
});
const rules = Rules.parse(parse(readFileSync(RULES, 'utf8'))).groups.flatMap((g) => g.rules);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

const Panel = z.object({
  id: z.number(),
  type: z.string(),
  title: z.string(),
  targets: z.array(z.object({ refId: z.string(), expr: z.string() })).optional(),
});
const Dashboard = z.object({
  uid: z.string(),
  title: z.string(),
  panels: z.array(Panel),
  templating: z.object({ list: z.array(z.object({ name: z.string(), type: z.string() })) }),
});
const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    file: f,
    ...Dashboard.parse(JSON.parse(readFileSync(resolve(DASHBOARDS, f), 'utf8'))),
  }));

/** Every PromQL expression with where it comes from. */
const expressions = [
  ...rules.map((r) => ({ where: `rules.yaml ${r.record ?? r.alert}`, expr: r.expr })),
  ...dashboards.flatMap((d) =>
    d.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ where: `${d.file} "${p.title}"`, expr: t.expr })),
    ),
  ),
];

const promtool = spawnSync('promtool', ['--version']).status === 0;
const toolsRequired = process.env.RAMPART_DEPLOY_TOOLS === 'required';

describe('deploy/prometheus/rules.yaml with promtool', () => {
  it('promtool is present where CI requires it', () => {
    if (toolsRequired) expect(promtool, 'promtool (Debian package prometheus)').toBe(true);
  });

  it.skipIf(!promtool)('passes `promtool check rules` (skipped without promtool)', () => {
    const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it.skipIf(!promtool)(
    'passes its unit tests, `promtool test rules` (skipped without promtool)',
    () => {
      const out = execFileSync('promtool', ['test', 'rules', RULES_TEST], { encoding: 'utf8' });
      expect(out).toMatch(/SUCCESS/);
    },
  );

  it('every alert names severity, a summary and a runbook that exists', () => {
    const alerts = rules.filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThan(10);
    for (const a of alerts) {
      expect(a.labels?.severity, a.alert).toMatch(/^(page|ticket|warning|info)$/);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      const runbook = a.annotations?.runbook ?? '';
      expect(runbook, a.alert).toMatch(/^docs\/runbooks\/[\w-]+\.md$/);
      expect(
        () => readFileSync(resolve(REPO_ROOT, runbook)),
        `${a.alert}: ${runbook}`,
      ).not.toThrow();
    }
  });
});

describe('deploy/grafana/dashboards', () => {
  it('have unique uids and panel ids, a data source variable, and a query on every panel', () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual([
      'rampart-copilot-sql',
      'rampart-gateway',
      'rampart-knowledge',
      'rampart-platform',
    ]);
    for (const d of dashboards) {
      const ids = d.panels.map((p) => p.id);
      expect(new Set(ids).size, d.file).toBe(ids.length);
      expect(d.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
      for (const p of d.panels.filter((x) => x.type !== 'row'))
        expect(p.targets?.length, `${d.file} "${p.title}"`).toBeGreaterThan(0);
    }
  });

  it('the PromQL name extractor finds metric names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, route) (rate(rampart_x_seconds_bucket{route!~"/v1/(a|b)",le="1"}[$__rate_interval]))) / clamp_min(rampart:y:ratio_rate5m, 1e-9) > 14.4 * 0.001 and on(kind) up',
      ).sort(),
    ).toEqual(['rampart:y:ratio_rate5m', 'rampart_x_seconds_bucket', 'up']);
  });
});

describe('every PromQL metric name against a running instance', () => {
  const data = tempDataDir();
  let server: (RampartProcess & { baseUrl: string }) | undefined;
  let body = '';
  const METRICS_TOKEN = 'metrics-token-for-the-observability-test';

  beforeAll(async () => {
    server = await startServe({
      RAMPART_DATA_DIR: data.dir,
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      METRICS_TOKEN,
      ...(TEST_REDIS_URL ? { REDIS_URL: TEST_REDIS_URL } : {}),
    });
    const base = server.baseUrl;
    // Exercise a few routes so labelled series exist, not only their families.
    const created = await fetch(`${base}/admin/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ROOT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'observability', name: 'Observability' }),
    });
    const { apiKey } = z.object({ apiKey: z.string() }).parse(await created.json());
    const auth = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    expect((await fetch(`${base}/v1/me`, { headers: auth })).status).toBe(200);
    expect(
      (await fetch(`${base}/v1/me`, { headers: { authorization: 'Bearer rmp_wrong' } })).status,
    ).toBe(401);
    await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'none', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await fetch(`${base}/v1/search`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ query: 'x' }),
    });
    const res = await fetch(`${base}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(res.status).toBe(200);
    body = await res.text();
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    data.cleanup();
  });

  it('exports the series the routes just exercised', () => {
    expect(body).toMatch(/^rampart_http_request_duration_seconds_bucket\{.*route="\/v1\/me"/m);
    expect(body).toMatch(/^rampart_auth_failures_total\{/m);
  });

  it('every metric a rule or a panel reads is exported (or recorded, or external)', () => {
    const { names } = exportedNames(body);
    const unknown: string[] = [];
    for (const { where, expr } of expressions)
      for (const name of metricNames(expr))
        if (
          !names.has(name) &&
          !recorded.has(name) &&
          !EXTERNAL_METRICS.has(name) &&
          !REDIS_ONLY_METRICS.has(name)
        )
          unknown.push(`${where}: ${name}`);
    expect(unknown).toEqual([]);
    // Recording rules read only what is exported.
    for (const r of rules.filter((x) => x.record))
      for (const name of metricNames(r.expr))
        expect(names.has(name) || recorded.has(name), name).toBe(true);
  });

  it('a renamed metric would be caught', () => {
    const { names } = exportedNames(body);
    expect(names.has('rampart_gateway_request_total')).toBe(false);
    expect(names.has('rampart_gateway_requests_total')).toBe(true);
    expect(names.has('rampart_gateway_overhead_seconds_bucket')).toBe(true);
  });

  it("every Rampart metric family (not Node's defaults) is charted on a dashboard", () => {
    const { families } = exportedNames(body);
    const charted = new Set(
      dashboards.flatMap((d) =>
        d.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))),
      ),
    );
    const suffixes = ['', '_bucket', '_sum', '_count'];
    const missing = [...families.keys()].filter(
      (f) =>
        f.startsWith('rampart_') &&
        !/^rampart_(process|nodejs)_/.test(f) &&
        !NOT_CHARTED.has(f) &&
        !suffixes.some((s) => charted.has(f + s)),
    );
    expect(missing, 'add a panel to deploy/grafana/dashboards/ for each').toEqual([]);
  });
});
