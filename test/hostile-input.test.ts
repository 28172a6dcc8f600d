import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, ROOT_TOKEN, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

/**
 * Property: whatever a caller with valid credentials sends to any route — hostile strings (NUL,
 * lone surrogates, CR/LF, huge, prototype keys, bad percent-encoding) in the path, the query
 * and the body, in any JSON shape, or broken JSON and multipart — the answer is never a 5xx,
 * and a refused request (4xx) leaves every table exactly as it was.
 */

const MASTER_KEY = Buffer.alloc(32, 11).toString('base64');
/** Runs per route and driver: enough to reach every field family, moderate on a shared machine. */
const RUNS_PER_ROUTE = 12;

interface RouteUnderTest {
  method: string;
  path: string;
  bodyKeys: string[];
  queryKeys: string[];
}

/** Every route the router holds, as method and path, read from printRoutes' tree. */
function registeredRoutes(app: TestApp): { method: string; path: string }[] {
  const stack: string[] = [];
  const found: { method: string; path: string }[] = [];
  for (const line of app.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const at = line.search(/[├└]── /);
    if (at < 0) continue;
    const m = /^(.*?)(?: \(([^)]*)\))?$/.exec(line.slice(at + 4));
    if (!m) continue;
    stack.length = at / 4;
    stack.push(m[1] ?? '');
    const path = stack.join('');
    // The Swagger UI's static files take no input of ours.
    if (path.startsWith('/docs')) continue;
    for (const method of (m[2] ?? '')
      .split(', ')
      .filter((x) => x && x !== 'HEAD' && x !== 'OPTIONS'))
      found.push({ method, path });
  }
  return found;
}

interface OpenApiOperation {
  parameters?: { in: string; name: string }[];
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
}

/** Each route with the body and query field names its schema declares (so values reach real fields). */
function routesUnderTest(app: TestApp): RouteUnderTest[] {
  const doc = app.app.swagger() as { paths?: Record<string, Record<string, OpenApiOperation>> };
  return registeredRoutes(app).map(({ method, path }) => {
    const op = doc.paths?.[path.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
    const bodySchema = Object.values(op?.requestBody?.content ?? {})[0]?.schema;
    return {
      method,
      path,
      bodyKeys: Object.keys(bodySchema?.properties ?? {}),
      queryKeys: (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
    };
  });
}

const nasty = fc.constantFrom(
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\r\n',
  'v\r\nX-Injected: 1',
  '__proto__',
  'constructor',
  '../../etc/passwd',
  "'; DROP TABLE tenants; --",
  '',
  ' ',
  '*',
  '\u202e\u200b',
  '🙂',
  'x'.repeat(5000),
  'http://127.0.0.1%2509:18190/v1',
  'http://[fe80::1%25lo]/v1',
  '00000000-0000-0000-0000-000000000000',
  'owner',
  'true',
  '-1',
  '1e309',
);
/** One UTF-16 unit or code point of anything, lone surrogates and control characters included. */
const anyChar = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom('\u0000', '\ud800', '\udc00', '\r', '\n', '\u007f', '%', '\\', '"'),
);
const hostileString = fc.oneof(nasty, fc.string({ unit: anyChar, maxLength: 40 }));
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Percent-encodes the UTF-8 of a string (a lone surrogate becomes U+FFFD, as a browser sends it). */
const pct = (s: string): string =>
  [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const pathSegment = fc.oneof(
  hostileString.filter((s) => s.length > 0).map(pct),
  fc.constantFrom('%ED%A0%80', '%FF', '%', '%%30', '%00', '..', '%2F'),
);

type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; text: string; contentType: string }
  | { kind: 'multipart'; filename: string; fields: [string, string][]; cut: number | null };

function bodyFor(route: RouteUnderTest): fc.Arbitrary<Body> {
  const known =
    route.bodyKeys.length > 0
      ? fc
          .subarray(route.bodyKeys)
          .chain((keys) =>
            fc
              .tuple(...keys.map(() => hostileValue))
              .map((vs) => Object.fromEntries(keys.map((k, i) => [k, vs[i]]))),
          )
      : fc.constant({});
  const options: fc.Arbitrary<Body>[] = [
    fc.constant<Body>({ kind: 'none' }),
    known.map((value): Body => ({ kind: 'json', value })),
    hostileValue.map((value): Body => ({ kind: 'json', value })),
    fc
      .tuple(
        fc.oneof(
          fc.string({ unit: anyChar, maxLength: 60 }),
          fc.constantFrom(
            '{"__proto__":{"x":1}}',
            '{"a":{"constructor":{"prototype":{}}}}',
            '{"a":',
            '[[[[[[',
          ),
        ),
        fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'image/png',
        ),
      )
      .map(([text, contentType]): Body => ({ kind: 'raw', text, contentType })),
  ];
  if (route.method === 'POST' && route.path === '/v1/documents')
    options.push(
      fc
        .record({
          filename: hostileString,
          fields: fc.array(
            fc.tuple(
              fc.constantFrom('title', 'tags', 'groups', 'file', '__proto__'),
              hostileString,
            ),
            {
              maxLength: 3,
            },
          ),
          cut: fc.option(fc.nat({ max: 200 })),
        })
        .map((m): Body => ({ kind: 'multipart', ...m })),
    );
  return fc.oneof(...options);
}

const BOUNDARY = 'hostileBoundary7MA4YWxk';
function multipartPayload(b: Extract<Body, { kind: 'multipart' }>): string {
  // A header value cannot carry a raw line break; the parser is what is under test, not Node's.
  const filename = b.filename.replace(/[\r\n"]/g, '_');
  const parts = [
    ...b.fields.map(
      ([name, value]) =>
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
    ),
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/plain\r\n\r\nSome text about refunds.\r\n`,
    `--${BOUNDARY}--\r\n`,
  ].join('');
  return b.cut === null ? parts : parts.slice(0, b.cut);
}

interface HostileRequest {
  url: string;
  body: Body;
}

function requestFor(route: RouteUnderTest): fc.Arbitrary<HostileRequest> {
  const params = route.path.match(/:\w+|\*/g) ?? [];
  return fc
    .record({
      segments: fc.tuple(...params.map(() => pathSegment)),
      query: fc.array(
        fc.tuple(
          route.queryKeys.length > 0
            ? fc.oneof(fc.constantFrom(...route.queryKeys), hostileString)
            : hostileString,
          fc.oneof(hostileString.map(pct), fc.constantFrom('%ED%A0%80', '%FF', '%')),
        ),
        { maxLength: 3 },
      ),
      body: bodyFor(route),
    })
    .map(({ segments, query, body }) => {
      let i = 0;
      const path = route.path.replace(/:\w+|\*/g, () => segments[i++] ?? 'x');
      const qs = query.map(([k, v]) => `${pct(k)}=${v}`).join('&');
      return { url: qs ? `${path}?${qs}` : path, body };
    });
}

describe.each(testDrivers())('hostile input on every route (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let ownerKey: string;
  let digestSql: string;
  /** PostgreSQL: one owner connection for the whole run (asOwner would connect per digest). */
  let owner: pg.Client | undefined;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    ownerKey = (await app.createTenant()).ownerKey;
    // One statement digesting every table's rows: a refused request must leave it unchanged.
    const tables = await t.asOwner((q) =>
      q.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
      ),
    );
    digestSql = `SELECT md5(string_agg(d, '|' ORDER BY n)) AS digest FROM (${tables.rows
      .map(
        ({ tablename }) =>
          `SELECT '${tablename}' AS n, md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) AS d FROM "${tablename}" r`,
      )
      .join(' UNION ALL ')}) s`;
    if (t.settings) {
      owner = new pg.Client({ connectionString: t.settings.DATABASE_ADMIN_URL });
      await owner.connect();
    }
  });
  afterAll(async () => {
    await owner?.end();
    await app?.close();
    await t?.close();
  });

  const scimToken = async (): Promise<string> => {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/identity/scim-token',
      headers: bearer(ownerKey),
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ token: string }>().token;
  };

  const digest = async (): Promise<string> => {
    const result = owner
      ? await owner.query<{ digest: string }>(digestSql)
      : await t.asOwner((q) => q.query<{ digest: string }>(digestSql));
    return result.rows[0]?.digest ?? '';
  };

  it('answers every route below 500, and a refusal changes nothing in the database', async () => {
    const routes = routesUnderTest(app);
    // The route list comes from the router: a sanity floor, so an empty parse cannot pass.
    expect(routes.length).toBeGreaterThan(40);
    expect(routes.some((r) => r.path === '/v1/documents' && r.bodyKeys.includes('title'))).toBe(
      true,
    );
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(requestFor(route), async (req) => {
          // SCIM routes take the tenant's SCIM token (an owner key is refused there, and that
          // refusal is audited): a fresh one each time, since POST /v1/identity/scim-token,
          // also under test, rotates it. Made before the digest, so it is not a change.
          const token = route.path.startsWith('/admin/')
            ? ROOT_TOKEN
            : route.path.startsWith('/scim/')
              ? await scimToken()
              : ownerKey;
          const before = await digest();
          const auth = bearer(token);
          const b = req.body;
          const res = await app.app.inject({
            method: route.method as 'GET',
            url: req.url,
            headers:
              b.kind === 'json'
                ? { ...auth, 'content-type': 'application/json' }
                : b.kind === 'raw'
                  ? { ...auth, 'content-type': b.contentType }
                  : b.kind === 'multipart'
                    ? { ...auth, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }
                    : auth,
            ...(b.kind === 'json'
              ? { payload: JSON.stringify(b.value) ?? 'null' }
              : b.kind === 'raw'
                ? { payload: b.text }
                : b.kind === 'multipart'
                  ? { payload: multipartPayload(b) }
                  : {}),
          });
          const where = `${route.method} ${req.url} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
          expect(res.statusCode, where).toBeLessThan(500);
          if (res.statusCode >= 400) {
            expect(res.headers['content-type'], where).toMatch(/json/);
            expect(
              String(
                res.json<{ code?: string; error?: { code?: string } }>().code ??
                  res.json<{ error?: { code?: string } }>().error?.code,
              ),
              where,
            ).not.toMatch(/^fst_|^FST_/);
            expect(await digest(), `${where}: a refused request changed the database`).toBe(before);
          }
        }),
        { numRuns: RUNS_PER_ROUTE, seed: Number(process.env.HOSTILE_SEED ?? Date.now() % 2 ** 31) },
      );
    }
  }, 600_000);
});
