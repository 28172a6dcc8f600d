/**
 * Text-to-SQL benchmark (issue #24; not a test). Prints:
 *
 *   1. layer 1's cost: validatePostgres (parse, walk, deparse) per gold query, p50/p99 in µs;
 *   2. POST /v1/sql/query (in-process inject: auth, validation, read-only session, audit) beside
 *      the same statement run directly with `pg` on one open connection, for the gold queries
 *      returning under 100 rows;
 *   3. execution accuracy of POST /v1/sql/ask per category over the defog questions of the
 *      loaded databases, against the OpenAI-compatible endpoint named by SQL_BENCH_BASE_URL,
 *      SQL_BENCH_API_KEY and SQL_BENCH_MODEL, or, without one, a labelled "oracle" model that
 *      answers the gold SQL (which checks the pipeline, not a model).
 *
 * Needs a PostgreSQL superuser URL for the source databases (SQL_BENCH_PG_URL, else
 * TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres); Rampart itself runs on
 * embedded PGlite.
 *
 *   npm run bench:sql -- [--repeat 30] [--dbs restaurants,geography,academic,scholar,yelp]
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { appendAuditEvent } from '../src/audit/service.js';
import { loadPostgresParser, validatePostgres } from '../src/sql/validate-pg.js';
import { startScriptedUpstream } from '../test/fakes/fake-openai-scripted.js';
import { createTestApp } from '../test/helpers/app.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { apiClient } from '../test/helpers/identity-api.js';
import { loadPgSources } from '../test/helpers/sql-sources.js';
import { goldQueries, TEXT2SQL_DATABASES } from '../test/helpers/text2sql.js';

const { values: args } = parseArgs({
  options: {
    repeat: { type: 'string', default: '30' },
    dbs: { type: 'string', default: TEXT2SQL_DATABASES.join(',') },
  },
});
const repeat = Number(args.repeat);
const dbs = args.dbs.split(',').filter(Boolean);
const env = process.env;
const pgUrl =
  env.SQL_BENCH_PG_URL || env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const f = (n: number, d = 1): string => n.toFixed(d);
const canonical = (rows: unknown[][]): string =>
  JSON.stringify(
    rows
      .map((r) => JSON.stringify(r, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v)))
      .sort(),
  );

const gold = goldQueries(dbs);
const rules = (db: string) => ({ schemas: db === 'ewallet' ? ['consumer_div'] : ['public'] });

// 1. Validation cost.
await loadPostgresParser();
for (const g of gold) validatePostgres(g.sql, rules(g.db));
const micros: number[] = [];
for (let i = 0; i < repeat; i++)
  for (const g of gold) {
    const t0 = performance.now();
    validatePostgres(g.sql, rules(g.db));
    micros.push((performance.now() - t0) * 1000);
  }
console.log(`\n## Layer 1: validatePostgres over ${gold.length} gold statements × ${repeat}`);
console.log(`p50 ${f(pct(micros, 50), 0)} µs, p99 ${f(pct(micros, 99), 0)} µs`);

// 2. /v1/sql/query beside direct pg.
const sources = await loadPgSources(pgUrl, dbs);
// Rampart's own database: PostgreSQL when TEST_DATABASE_URL is set, else embedded PGlite.
const rampartDb = await createTestDatabase(env.TEST_DATABASE_URL ? 'postgres' : 'pglite');
const fake = await startScriptedUpstream();
const app = await createTestApp(rampartDb.db, {
  RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
  SQL_MAX_ROWS: '100000',
  LOG_LEVEL: 'warn',
});
try {
  const call = apiClient(app);
  const tenant = await app.createTenant();
  const owner = tenant.ownerKey;
  for (const db of dbs) {
    const r = await call('POST', '/v1/sql/sources', owner, {
      name: db.replace(/_/g, '-'),
      type: 'postgres',
      url: sources.readerUrl(db),
      schemas: db === 'ewallet' ? ['consumer_div', 'public'] : ['public'],
    });
    if (r.status !== 201) throw new Error(`registering ${db}: ${r.text}`);
  }
  const clients = new Map<string, pg.Client>();
  for (const db of dbs) {
    const c = new pg.Client({ connectionString: sources.readerUrl(db) });
    await c.connect();
    clients.set(db, c);
  }
  const small: typeof gold = [];
  const expected = new Map<string, string>();
  for (const g of gold) {
    const c = clients.get(g.db);
    if (!c) continue;
    const rows = (await c.query<unknown[]>({ text: g.sql, rowMode: 'array' })).rows;
    expected.set(
      `${g.index}`,
      (expected.get(`${g.index}`) ?? '') +
        '|' +
        canonical(JSON.parse(JSON.stringify(rows)) as unknown[][]),
    );
    if (rows.length < 100) small.push(g);
  }
  const viaApi: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < Math.max(3, Math.floor(repeat / 3)); i++)
    for (const g of small) {
      const c = clients.get(g.db);
      if (!c) continue;
      let t0 = performance.now();
      await c.query({ text: g.sql, rowMode: 'array' });
      direct.push(performance.now() - t0);
      t0 = performance.now();
      const r = await call('POST', '/v1/sql/query', owner, {
        source: g.db.replace(/_/g, '-'),
        sql: g.sql,
      });
      viaApi.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`query failed: ${r.text}`);
    }
  const d50 = pct(direct, 50);
  const a50 = pct(viaApi, 50);
  console.log(`\n## /v1/sql/query vs direct pg (${small.length} gold statements under 100 rows)`);
  console.log('| path | p50 ms | p99 ms |\n| --- | --- | --- |');
  console.log(`| direct pg (one open connection) | ${f(d50, 2)} | ${f(pct(direct, 99), 2)} |`);
  console.log(`| POST /v1/sql/query (inject) | ${f(a50, 2)} | ${f(pct(viaApi, 99), 2)} |`);
  console.log(`Rampart adds ${f(a50 - d50, 2)} ms at p50 (goal: under 1 ms).`);
  // The one write on the path: the query's audit record (a hash-chained append, committed
  // before the answer), measured alone on the same database.
  const audits: number[] = [];
  for (let i = 0; i < Math.min(200, viaApi.length); i++) {
    const t0 = performance.now();
    await rampartDb.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'system', id: 'bench' },
        action: 'sql.queried',
        target: { type: 'sql_source', id: 'bench' },
        outcome: 'success',
        details: { sql: small[i % small.length]?.sql ?? '', rowCount: 1 },
      }),
    );
    audits.push(performance.now() - t0);
  }
  console.log(
    `Of which the audit record alone (one tenant transaction): p50 ${f(pct(audits, 50), 2)} ms.`,
  );

  // 3. Accuracy of /v1/sql/ask.
  const endpoint = env.SQL_BENCH_BASE_URL;
  const model = endpoint ? (env.SQL_BENCH_MODEL ?? 'gpt-4o-mini') : 'oracle';
  const byQuestion = new Map<string, string>();
  for (const g of gold) if (!byQuestion.has(g.question)) byQuestion.set(g.question, g.sql);
  fake.chatReply = (messages) => {
    const question = messages.at(-1)?.content ?? '';
    return `\`\`\`sql\n${byQuestion.get(question) ?? 'SELECT 1'}\n\`\`\`\nThe gold query (oracle).`;
  };
  await call('POST', '/v1/providers', owner, {
    name: 'bench',
    type: 'openai',
    baseUrl: endpoint ?? fake.baseUrl,
    apiKey: env.SQL_BENCH_API_KEY ?? 'sk-oracle',
  });
  await call('POST', '/v1/routes', owner, {
    alias: 'default',
    targets: [{ provider: 'bench', model }],
  });
  const perCategory = new Map<string, { ok: number; n: number }>();
  const seen = new Set<number>();
  let failures = 0;
  for (const g of gold) {
    if (seen.has(g.index)) continue;
    seen.add(g.index);
    const r = await call('POST', '/v1/sql/ask', owner, {
      source: g.db.replace(/_/g, '-'),
      question: g.question,
    });
    const rows = r.status === 200 ? (r.body as { rows: unknown[][] }).rows : undefined;
    if (r.status !== 200 && failures++ < 3)
      console.log(`ask failed (${r.status}): ${r.text.slice(0, 300)}`);
    const right =
      rows !== undefined && (expected.get(`${g.index}`) ?? '').split('|').includes(canonical(rows));
    const c = perCategory.get(g.category) ?? { ok: 0, n: 0 };
    c.n += 1;
    if (right) c.ok += 1;
    perCategory.set(g.category, c);
  }
  console.log(
    `\n## /v1/sql/ask execution accuracy, model: ${endpoint ? model : 'oracle (returns the gold SQL; checks the pipeline, not a model)'}`,
  );
  console.log('| category | questions | correct | accuracy |\n| --- | --- | --- | --- |');
  let ok = 0;
  let n = 0;
  for (const [cat, c] of [...perCategory].sort()) {
    ok += c.ok;
    n += c.n;
    console.log(`| ${cat} | ${c.n} | ${c.ok} | ${f((100 * c.ok) / c.n)}% |`);
  }
  console.log(`| all | ${n} | ${ok} | ${f((100 * ok) / n)}% |`);
  for (const c of clients.values()) await c.end();
} finally {
  await app.close();
  await rampartDb.close();
  await fake.close();
  await sources.drop();
}
