import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const root = new URL('../', import.meta.url);
const DOCS = ['README.md', 'docs/knowledge.md'];

/** The shell commands of a Markdown file's fenced blocks, with `\` continuations joined. */
function shellCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks.flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n'));
}

/** The document uploads among them: `curl … /v1/documents` with a JSON body or form fields. */
function uploadExamples(markdown: string): {
  json: Record<string, unknown>[];
  forms: [string, string][][];
} {
  const uploads = shellCommands(markdown).filter((c) =>
    /^curl -s localhost:8080\/v1\/documents -H/.test(c),
  );
  const json = uploads.flatMap((c) => {
    const body = /-d '([^']*)'/.exec(c)?.[1];
    return body === undefined ? [] : [JSON.parse(body) as Record<string, unknown>];
  });
  const forms = uploads
    .map((c) =>
      [...c.matchAll(/-F (\w+)=(?:'([^']*)'|(\S+))/g)].map((m): [string, string] => [
        m[1] ?? '',
        m[2] ?? m[3] ?? '',
      ]),
    )
    .filter((fields) => fields.length > 0);
  return { json, forms };
}

/** The `/v1/search` and `/v1/ask` calls among them that need no placeholder, with their bodies. */
function queryExamples(markdown: string): { url: string; body: Record<string, unknown> }[] {
  return shellCommands(markdown).flatMap((c) => {
    const url = /^curl -s localhost:8080(\/v1\/(?:search|ask)) /.exec(c)?.[1];
    const body = /-d '([^'$]*)'/.exec(c)?.[1];
    return url === undefined || body === undefined
      ? []
      : [{ url, body: JSON.parse(body) as Record<string, unknown> }];
  });
}

/**
 * The document examples of the README and docs/knowledge.md, run as written with the owner key
 * the quick start creates: what they upload must then be found by the commands that follow
 * (GET by id, the list filtered by tag).
 */
describe.each(testDrivers())('README: the document examples work as written (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let worker: JobQueue;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
    worker = createWorker(t.db, app.config);
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('finds what the examples upload: by id, and in the list filtered by tag', async () => {
    for (const doc of DOCS) {
      const examples = uploadExamples(readFileSync(new URL(doc, root), 'utf8'));
      expect(examples.json.length, doc).toBeGreaterThan(0);
      expect(examples.forms.length, doc).toBeGreaterThan(0);
      const { ownerKey } = await app.createTenant();
      const ids: string[] = [];
      for (const payload of examples.json) {
        const res = await app.app.inject({
          method: 'POST',
          url: '/v1/documents',
          headers: bearer(ownerKey),
          payload,
        });
        expect(res.statusCode, `${doc}: ${res.body}`).toBe(202);
        ids.push(res.json<{ id: string }>().id);
      }
      for (const fields of examples.forms) {
        const form = new FormData();
        for (const [name, value] of fields) {
          if (name === 'file' && value.startsWith('@')) {
            // Any real PDF stands in for the example's handbook.pdf.
            const pdf = readFileSync(new URL('test/fixtures/pdfs/scotus-transcript-p1.pdf', root));
            form.append(name, new Blob([pdf], { type: 'application/pdf' }), value.slice(1));
          } else form.append(name, value);
        }
        const res = await app.app.inject({
          method: 'POST',
          url: '/v1/documents',
          headers: bearer(ownerKey),
          payload: form,
        });
        expect(res.statusCode, `${doc}: ${res.body}`).toBe(202);
        ids.push(res.json<{ id: string }>().id);
      }
      await worker.drain();
      for (const id of ids) {
        const one = await app.app.inject({
          method: 'GET',
          url: `/v1/documents/${id}`,
          headers: bearer(ownerKey),
        });
        expect(one.statusCode, `${doc}: GET /v1/documents/${id}`).toBe(200);
        expect(one.json<{ status: string }>().status).toBe('ready');
      }
      const list = await app.app.inject({
        method: 'GET',
        url: '/v1/documents?status=ready&tag=policy&limit=20',
        headers: bearer(ownerKey),
      });
      const listed = list.json<{ data: { id: string }[] }>().data.map((d) => d.id);
      expect(listed.sort(), doc).toEqual([...ids].sort());

      // The search and ask calls that follow find the refund policy just uploaded.
      const queries = queryExamples(readFileSync(new URL(doc, root), 'utf8'));
      expect(queries.map((q) => q.url).sort(), doc).toEqual(
        expect.arrayContaining(['/v1/ask', '/v1/search']),
      );
      for (const { url, body } of queries) {
        const res = await app.app.inject({
          method: 'POST',
          url,
          headers: bearer(ownerKey),
          payload: body,
        });
        expect(res.statusCode, `${doc}: ${url} ${res.body}`).toBe(200);
        const titles =
          url === '/v1/ask'
            ? res.json<{ citations: { title: string }[] }>().citations.map((c) => c.title)
            : res.json<{ data: { title: string }[] }>().data.map((h) => h.title);
        expect(titles, `${doc}: ${url}`).toContain('Refund policy');
      }
    }
  });
});
