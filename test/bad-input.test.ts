import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { bearer, createTestApp, ROOT_TOKEN, uniqueSlug, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

/** Each bad input of issue #20 that used to be a 500 or an unclear message, one by one. */

const MASTER_KEY = Buffer.alloc(32, 5).toString('base64');
const NUL_MESSAGE = 'must not contain NUL characters (\\u0000)';

interface ProblemBody {
  status: number;
  code: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

const BOUNDARY = 'badInputBoundary0123';
const filePart = (name: string, body: string | Buffer): Buffer =>
  Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n`,
    ),
    Buffer.from(body),
    Buffer.from('\r\n'),
  ]);
const END = Buffer.from(`--${BOUNDARY}--\r\n`);

describe.each(testDrivers())('bad input is a clear 4xx (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let worker: JobQueue;
  let key: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: MASTER_KEY,
      QUEUE_RETRY_BASE_MS: '0',
      QUEUE_MAX_ATTEMPTS: '1',
    });
    worker = createWorker(t.db, app.config);
    key = (await app.createTenant()).ownerKey;
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  const send = (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    url: string,
    payload?: unknown,
    headers: Record<string, string> = bearer(key),
  ) =>
    app.app.inject({
      method,
      url,
      headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(payload === undefined
        ? {}
        : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }),
    });
  const multipart = (body: Buffer) =>
    app.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: { ...bearer(key), 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      payload: body,
    });
  const expectRefused = (
    res: Awaited<ReturnType<typeof send>>,
    field: string,
    message = NUL_MESSAGE,
  ) => {
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json<ProblemBody>();
    expect(body.code).toBe('invalid_input');
    expect(body.detail).toBe(`${field}: ${message}`);
    expect(body.errors?.[0]).toEqual({ field, message });
  };

  describe('NUL and lone surrogates are refused, naming the field', () => {
    it('search and ask queries, and the search tag filter', async () => {
      expectRefused(await send('POST', '/v1/search', { query: 'a\u0000b' }), 'body.query');
      expectRefused(
        await send('POST', '/v1/search', { query: 'ok', filter: { tags: ['x\u0000'] } }),
        'body.filter.tags.0',
      );
      expectRefused(await send('POST', '/v1/ask', { question: 'why\u0000' }), 'body.question');
    });

    it('document titles, tags and text', async () => {
      expectRefused(
        await send('POST', '/v1/documents', { title: 'T\u0000', text: 'hello' }),
        'body.title',
      );
      expectRefused(
        await send('POST', '/v1/documents', { title: 'T', text: 'hello', tags: ['a\u0000'] }),
        'body.tags.0',
      );
      expectRefused(
        await send('POST', '/v1/documents', { title: 'T', text: 'hel\u0000lo' }),
        'body.text',
      );
      // A lone surrogate has no UTF-8 form: refused the same way, with its own reason.
      expectRefused(
        await send('POST', '/v1/documents', '{"title":"a\\ud800","text":"hi"}'),
        'body.title',
        'must not contain unpaired UTF-16 surrogates (not valid UTF-8)',
      );
    });

    it('key names, tenant names and price model names', async () => {
      expectRefused(
        await send('POST', '/v1/api-keys', { name: 'k\u0000', role: 'member' }),
        'body.name',
      );
      expectRefused(
        await send(
          'POST',
          '/admin/v1/tenants',
          { slug: uniqueSlug(), name: 'Acme\u0000' },
          bearer(ROOT_TOKEN),
        ),
        'body.name',
      );
      expectRefused(
        await send('PUT', '/v1/prices/gpt%00x', { input: 1, output: 1 }),
        'params.model',
      );
    });

    it('audit and document list filters in the query string', async () => {
      expectRefused(await send('GET', '/v1/audit-events?action=a%00b'), 'query.action');
      expectRefused(await send('GET', '/v1/audit-events?actorId=%00'), 'query.actorId');
      expectRefused(await send('GET', '/v1/documents?tag=a%00'), 'query.tag');
    });

    it('provider header values', async () => {
      expectRefused(
        await send('POST', '/v1/providers', {
          name: 'p-nul',
          type: 'openai',
          apiKey: 'sk-x',
          headers: { 'x-team': 'a\u0000' },
        }),
        'body.headers.x-team',
      );
    });

    it('on OpenAI-style routes, in the OpenAI error shape, also in pass-through fields', async () => {
      const res = await send('POST', '/v1/chat/completions', {
        model: 'gpt\u0000',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: {
          message: `body.model: ${NUL_MESSAGE}`,
          type: 'invalid_request_error',
          code: 'invalid_input',
          param: 'model',
        },
      });
      // `content` is not in the route's schema; the guard under every schema still finds it.
      const passThrough = await send('POST', '/v1/chat/completions', {
        model: 'gpt',
        messages: [{ role: 'user', content: 'a\u0000b' }],
      });
      expect(passThrough.statusCode).toBe(400);
      expect(passThrough.json<{ error: { param: string } }>().error.param).toBe(
        'messages.0.content',
      );
    });
  });

  describe('an uploaded file with NUL bytes', () => {
    it('a few stray NULs in a text file are dropped and the document is indexed', async () => {
      const text = `${'Refunds are possible within thirty days. '.repeat(20)}\u0000\n\nKeep the receipt.`;
      const res = await multipart(Buffer.concat([filePart('notes.txt', text), END]));
      expect(res.statusCode, res.body).toBe(202);
      const { id } = res.json<{ id: string }>();
      await worker.drain();
      const doc = (await send('GET', `/v1/documents/${id}`)).json<{ status: string }>();
      expect(doc.status).toBe('ready');
      const chunks = (await send('GET', `/v1/documents/${id}/chunks`)).json<{
        data: { text: string }[];
      }>().data;
      expect(chunks.map((c) => c.text).join(' ')).toContain('Keep the receipt.');
      expect(chunks.some((c) => c.text.includes('\u0000'))).toBe(false);
    });

    it('a file full of NULs (UTF-16, binary) is refused saying so, not as invalid UTF-8', async () => {
      const utf16 = Buffer.from('Hello, this is UTF-16 text.', 'utf16le');
      const res = await multipart(Buffer.concat([filePart('u16.txt', utf16), END]));
      expect(res.statusCode).toBe(415);
      expect(res.json<ProblemBody>().detail).toContain('contains NUL bytes');
      expect(res.json<ProblemBody>().detail).not.toContain('not valid UTF-8');
    });
  });

  describe('provider base URLs the URL parser refuses are a 400, not a throw', () => {
    it.each(['http://127.0.0.1%2509:18190/v1', 'http://[fe80::1%25lo]/v1'])(
      '%s',
      async (baseUrl) => {
        const res = await send('POST', '/v1/providers', {
          name: 'p-url',
          type: 'openai',
          apiKey: 'sk-x',
          baseUrl,
        });
        expect(res.statusCode, res.body).toBe(400);
        const body = res.json<ProblemBody>();
        expect(body.code).toBe('invalid_input');
        expect(body.errors?.map((e) => e.field)).toEqual(['body.baseUrl']);
      },
    );

    it('and on PATCH', async () => {
      const res = await send('PATCH', '/v1/providers/00000000-0000-4000-8000-000000000000', {
        baseUrl: 'http://[fe80::1%25lo]/v1',
      });
      expect(res.statusCode).toBe(400);
      expect(res.json<ProblemBody>().errors?.[0]?.field).toBe('body.baseUrl');
    });
  });

  describe('multipart uploads', () => {
    it('a 5,000-character file name without a title: 400 naming the file, nothing stored', async () => {
      const res = await multipart(Buffer.concat([filePart('n'.repeat(5000), 'hello world'), END]));
      expect(res.statusCode, res.body).toBe(400);
      const body = res.json<ProblemBody>();
      expect(body.code).toBe('invalid_input');
      expect(body.errors?.[0]?.field).toBe('body.file');
      expect(body.detail).toContain('send a title field');
      // With a title the name does not matter.
      const titled = await multipart(
        Buffer.concat([
          Buffer.from(
            `--${BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nLong name\r\n`,
          ),
          filePart('n'.repeat(5000), 'hello long name'),
          END,
        ]),
      );
      expect(titled.statusCode, titled.body).toBe(202);
    });

    it('a truncated body: 400 malformed_multipart', async () => {
      for (const cut of [60, 140]) {
        const whole = Buffer.concat([filePart('a.txt', 'hello world, some text'), END]);
        const res = await multipart(whole.subarray(0, cut));
        expect(res.statusCode, `cut at ${cut}: ${res.body}`).toBe(400);
        expect(res.json<ProblemBody>().code).toBe('malformed_multipart');
      }
    });

    it('two files where one is allowed: 400 too_many_files, not fst_files_limit', async () => {
      const res = await multipart(
        Buffer.concat([filePart('a.txt', 'first file'), filePart('b.txt', 'second file'), END]),
      );
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json<ProblemBody>()).toMatchObject({
        code: 'too_many_files',
        detail: 'Send exactly one file part (the "file" field).',
      });
    });
  });

  describe('provider headers and API keys that would break every call are refused when saved', () => {
    const create = (extra: Record<string, unknown>) =>
      send('POST', '/v1/providers', { name: 'p-h', type: 'openai', apiKey: 'sk-x', ...extra });

    it('CR/LF in a header value', async () => {
      const res = await create({ headers: { 'x-team': 'a\r\nx-evil: 1' } });
      expect(res.statusCode).toBe(400);
      expect(res.json<ProblemBody>().errors?.[0]).toEqual({
        field: 'body.headers.x-team',
        message: 'header values must not contain line breaks or control characters',
      });
    });

    it.each([
      'connection',
      'Keep-Alive',
      'te',
      'upgrade',
      'expect',
      'transfer-encoding',
      'host',
      'content-length',
      'trailer',
      'proxy-authorization',
      'proxy-connection',
    ])('the hop-by-hop or framing header %s', async (name) => {
      const res = await create({ headers: { [name]: 'x' } });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json<ProblemBody>().errors?.[0]?.field).toBe(`body.headers.${name}`);
    });

    it('CR/LF in an apiKey, on create and on PATCH', async () => {
      const res = await create({ apiKey: 'sk-abc\r\nx-evil: 1' });
      expect(res.statusCode).toBe(400);
      expect(res.json<ProblemBody>().errors?.[0]?.field).toBe('body.apiKey');
      const patch = await send('PATCH', '/v1/providers/00000000-0000-4000-8000-000000000000', {
        apiKey: 'sk\n',
      });
      expect(patch.statusCode).toBe(400);
      expect(patch.json<ProblemBody>().errors?.[0]?.field).toBe('body.apiKey');
    });

    it('an ordinary header and key are still saved', async () => {
      const res = await create({ name: 'p-ok', headers: { 'x-team': 'search; v=2' } });
      expect(res.statusCode, res.body).toBe(201);
    });
  });

  describe('messages read well', () => {
    it('malformed JSON says "not valid JSON" once', async () => {
      const res = await send('POST', '/v1/search', '{"query": ');
      expect(res.statusCode).toBe(400);
      const body = res.json<ProblemBody>();
      expect(body.code).toBe('malformed_json');
      expect(body.detail.match(/not valid JSON/g)).toHaveLength(1);
    });

    it('a __proto__ key is refused for what it is', async () => {
      for (const payload of [
        '{"query":"x","__proto__":{"admin":true}}',
        '{"query":"x","\\u005f_proto__":{"admin":true}}',
        '{"query":"x","filter":{"constructor":{"prototype":{"admin":true}}}}',
      ]) {
        const res = await send('POST', '/v1/search', payload);
        expect(res.statusCode, payload).toBe(400);
        expect(res.json<ProblemBody>().code).toBe('forbidden_property');
        expect(res.json<ProblemBody>().detail).toMatch(
          /^body\.(filter\.constructor\.prototype|__proto__): /,
        );
      }
    });

    it('a Basic Authorization header is told to use a Bearer API key', async () => {
      const res = await send('GET', '/v1/me', undefined, {
        authorization: 'Basic dXNlcjpwYXNz',
      });
      expect(res.statusCode).toBe(401);
      expect(res.json<ProblemBody>().detail).toBe(
        'The Authorization header uses the Basic scheme; use a Bearer API key (Authorization: Bearer rmp_…).',
      );
    });

    it('"An admin cannot grant the owner role."', async () => {
      const admin = (await send('POST', '/v1/api-keys', { name: 'adm', role: 'admin' })).json<{
        secret: string;
      }>().secret;
      const res = await send('POST', '/v1/api-keys', { name: 'up', role: 'owner' }, bearer(admin));
      expect(res.statusCode).toBe(403);
      expect(res.json<ProblemBody>().detail).toBe('An admin cannot grant the owner role.');
    });

    it('a path with invalid percent-encoding is problem+json with our code', async () => {
      const res = await send('GET', '/v1/routes/a%ED%A0%80b');
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json<ProblemBody>().code).toBe('bad_url');
    });

    it('/v1/ask in generative mode without a chat model says the answer is extractive', async () => {
      const res = await send('POST', '/v1/ask', { question: 'refund window?', mode: 'generative' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        mode: 'extractive',
        warning:
          'No chat model is configured (an answer alias in the knowledge settings, or ASK_CHAT_BASE_URL); this answer is extractive.',
      });
      const auto = (await send('POST', '/v1/ask', { question: 'refund window?' })).json<object>();
      expect(auto).toMatchObject({ mode: 'extractive' });
      expect(auto).not.toHaveProperty('warning');
      const bad = await send('POST', '/v1/ask', { question: 'x', mode: 'creative' });
      expect(bad.statusCode).toBe(400);
    });
  });
});
