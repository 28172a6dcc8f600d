import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import type { Principal } from '../src/platform/http/principal.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

// Fixtures in the repository (with their licence), so a fresh clone's `npm test` passes.
const PDFS = new URL('./fixtures/pdfs/', import.meta.url);
const pdf = (name: string): Buffer => readFileSync(new URL(name, PDFS));

/** A multipart/form-data body as a browser or curl -F sends it. */
function form(
  fields: Record<string, string>,
  file?: { name: string; type: string; data: Buffer },
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----rampart${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields))
    parts.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`),
    );
  if (file)
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: ${file.type}\r\n\r\n`,
      ),
      file.data,
      Buffer.from('\r\n'),
    );
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(parts),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

interface Doc {
  id: string;
  status: string;
  title?: string;
  failureReason: string | null;
  pageCount: number | null;
  chunkCount: number;
  sourceType: string;
  contentHash: string;
  groups: string[];
}
interface ChunkView {
  text: string;
  pageFrom: number | null;
  pageTo: number | null;
  headingPath: string[];
  ordinal: number;
}

describe.each(testDrivers())('knowledge hub: documents and ingestion (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let worker: JobQueue;
  let tenant: { id: string; slug: string; ownerKey: string };

  const upload = async (key: string, payload: Record<string, unknown>) =>
    app.app.inject({ method: 'POST', url: '/v1/documents', headers: bearer(key), payload });
  const get = async (key: string, url: string) =>
    app.app.inject({ method: 'GET', url, headers: bearer(key) });
  const doc = async (id: string, key = tenant.ownerKey): Promise<Doc> =>
    (await get(key, `/v1/documents/${id}`)).json() as Doc;
  const chunks = async (id: string, key = tenant.ownerKey): Promise<ChunkView[]> =>
    ((await get(key, `/v1/documents/${id}/chunks`)).json() as { data: ChunkView[] }).data;
  const ownerPrincipal = (): Principal => ({
    kind: 'api_key',
    tenantId: tenant.id,
    tenantSlug: tenant.slug,
    userId: null,
    keyId: null,
    role: 'owner',
    permissions: new Set(['documents:write', 'documents:read', 'groups:manage']),
    groups: [],
  });
  const meta = { requestId: 'test-request', ip: '127.0.0.1' };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { QUEUE_RETRY_BASE_MS: '0', QUEUE_MAX_ATTEMPTS: '1' });
    worker = createWorker(t.db, app.config);
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('accepts a text document with 202 and a durable job, then ingests it to ready', async () => {
    const res = await upload(tenant.ownerKey, {
      title: 'Plain notes',
      text: 'First paragraph about apples.\n\nSecond paragraph about pears.',
      tags: ['fruit'],
    });
    expect(res.statusCode).toBe(202);
    const body = res.json() as { id: string; status: string; duplicate: boolean };
    expect(body).toEqual({ id: expect.any(String), status: 'queued', duplicate: false });
    expect((await doc(body.id)).status).toBe('queued');
    const outcomes = await worker.drain();
    expect(outcomes.map((o) => o.state)).toEqual(['completed']);
    const d = await doc(body.id);
    expect(d).toMatchObject({
      status: 'ready',
      sourceType: 'text',
      chunkCount: 1,
      pageCount: null,
    });
    expect(d.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect((await chunks(body.id))[0]?.text).toBe(
      'First paragraph about apples.\n\nSecond paragraph about pears.',
    );
  });

  it('re-uploading identical content returns the existing document', async () => {
    const payload = { title: 'Dup', text: 'The very same content, twice.' };
    const first = (await upload(tenant.ownerKey, payload)).json() as { id: string };
    const second = await upload(tenant.ownerKey, { ...payload, title: 'Dup again' });
    expect(second.statusCode).toBe(202);
    expect(second.json()).toEqual({ id: first.id, status: 'queued', duplicate: true });
    await worker.drain();
  });

  it('keeps the heading path of Markdown and drops scripts and navigation from HTML', async () => {
    const md = (
      await upload(tenant.ownerKey, {
        title: 'Guide',
        markdown:
          '# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n### Linux\n\nUse the package.',
      })
    ).json() as { id: string };
    const html = (
      await upload(tenant.ownerKey, {
        title: 'Page',
        html: '<!doctype html><html><head><title>T</title><style>.x{color:red}</style></head><body><nav>Home | About</nav><main><h1>Policy</h1><p>Refunds within <b>30 days</b>.</p><script>alert("x")</script></main><footer>© Acme</footer></body></html>',
      })
    ).json() as { id: string };
    await worker.drain();
    const mdChunks = await chunks(md.id);
    expect(mdChunks.map((c) => [c.headingPath, c.text])).toEqual([
      [['Guide'], 'Guide\n\nIntro text.'],
      [['Guide', 'Install'], 'Install\n\nRun the installer.'],
      [['Guide', 'Install', 'Linux'], 'Linux\n\nUse the package.'],
    ]);
    expect(mdChunks.map((c) => c.ordinal)).toEqual([0, 1, 2]);
    const htmlChunks = await chunks(html.id);
    expect(htmlChunks.map((c) => [c.headingPath, c.text])).toEqual([
      [['Policy'], 'Policy\n\nRefunds within 30 days.'],
    ]);
  });

  it('masks PII in the stored chunk text', async () => {
    const { id } = (
      await upload(tenant.ownerKey, {
        title: 'Customer',
        text: 'Contact jane@acme.com or (415) 555-0132. SSN 123-45-6789. Card 4111 1111 1111 1111. IBAN GB82 WEST 1234 5698 7654 32.',
      })
    ).json() as { id: string };
    await worker.drain();
    const [c] = await chunks(id);
    expect(c?.text).toBe('Contact [EMAIL] or [PHONE]. SSN [SSN]. Card [CARD]. IBAN [IBAN].');
    const raw = await t.asOwner((q) =>
      q.query<{ text: string }>(`SELECT text FROM chunks WHERE document_id = $1`, [id]),
    );
    expect(raw.rows.map((r) => r.text).join(' ')).not.toMatch(/jane@acme|6789|1111 1111|WEST/);
  });

  it('rejects unsupported and oversize uploads, changing nothing', async () => {
    const documents = app.services.documents;
    const before = await t.asOwner((q) =>
      q.query<{ n: number }>(`SELECT count(*)::int AS n FROM documents`),
    );
    await expect(
      documents.accept(
        ownerPrincipal(),
        { title: 'png', content: Buffer.from('89504e470d0a1a0a0000', 'hex') },
        meta,
      ),
    ).rejects.toMatchObject({ status: 415 });
    await expect(
      documents.accept(
        ownerPrincipal(),
        { title: 'zip', content: Buffer.from('504b0304140000000800', 'hex') },
        meta,
      ),
    ).rejects.toMatchObject({ status: 415 });
    const small = await createTestApp(t.db, { DOCUMENT_MAX_BYTES: '10' });
    try {
      const res = await small.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: bearer(tenant.ownerKey),
        payload: { title: 'big', text: 'more than ten bytes' },
      });
      expect(res.statusCode).toBe(413);
      const f = form(
        { title: 'big' },
        { name: 'big.txt', type: 'text/plain', data: Buffer.alloc(64, 'a') },
      );
      const viaForm = await small.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: { ...bearer(tenant.ownerKey), ...f.headers },
        payload: f.payload,
      });
      expect(viaForm.statusCode).toBe(413);
    } finally {
      await small.close();
    }
    const after = await t.asOwner((q) =>
      q.query<{ n: number }>(`SELECT count(*)::int AS n FROM documents`),
    );
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
  });

  it('ingests real PDFs to ready with their pages, and fails bad PDFs with a reason without stopping the worker', async () => {
    const documents = app.services.documents;
    const accept = async (name: string) =>
      (await documents.accept(ownerPrincipal(), { title: name, content: pdf(name) }, meta)).id;
    const fed = await accept('federal-register-2020-17221.pdf');
    const nics = await accept('nics-background-checks-2015-11.pdf');
    const locked = await accept('password-example.pdf');
    const broken = await accept('malformed-from-issue-932.pdf');
    // The empty PDF (0 bytes) through the HTTP upload: accepted like any file, failed by the worker.
    expect(pdf('empty.pdf').byteLength).toBe(0);
    const f0 = form({}, { name: 'empty.pdf', type: 'application/pdf', data: pdf('empty.pdf') });
    const emptyRes = await app.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: { ...bearer(tenant.ownerKey), ...f0.headers },
      payload: f0.payload,
    });
    expect(emptyRes.statusCode).toBe(202);
    const empty = (emptyRes.json() as { id: string; status: string }).id;
    expect(emptyRes.json()).toMatchObject({ status: 'queued', duplicate: false });
    const outcomes = await worker.drain();
    expect(outcomes.map((o) => o.state)).toEqual([
      'completed',
      'completed',
      'completed',
      'completed',
      'completed',
    ]);

    const f = await doc(fed);
    expect(f).toMatchObject({
      status: 'ready',
      sourceType: 'pdf',
      pageCount: 15,
      failureReason: null,
    });
    expect(f.chunkCount).toBeGreaterThan(15);
    const fc = await chunks(fed);
    expect(fc).toHaveLength(f.chunkCount);
    expect(fc[0]?.pageFrom).toBe(1);
    expect(fc[fc.length - 1]?.pageTo).toBe(15);
    expect(
      fc.every((c) => c.pageFrom !== null && c.pageTo !== null && c.pageFrom <= c.pageTo),
    ).toBe(true);
    expect(await doc(nics)).toMatchObject({ status: 'ready', pageCount: 1 });

    expect(await doc(locked)).toMatchObject({
      status: 'failed',
      failureReason: 'PDF is encrypted (password-protected); upload a copy without a password.',
      chunkCount: 0,
    });
    expect(await doc(broken)).toMatchObject({
      status: 'failed',
      failureReason:
        'No text could be extracted from the PDF (it may be a scanned image; OCR is not supported).',
    });
    expect(await doc(empty)).toMatchObject({
      title: 'empty.pdf',
      status: 'failed',
      failureReason: 'The file is empty (0 bytes).',
      bytes: 0,
      chunkCount: 0,
    });
  });

  it('accepts multipart uploads: the type comes from the bytes, not the file name or part type', async () => {
    const post = (f: ReturnType<typeof form>, key = tenant.ownerKey) =>
      app.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: { ...bearer(key), ...f.headers },
        payload: f.payload,
      });
    const res = await post(
      form(
        { tags: 'scotus,transcript' },
        { name: 'notes.txt', type: 'text/plain', data: pdf('scotus-transcript-p1.pdf') },
      ),
    );
    expect(res.statusCode).toBe(202);
    const { id } = res.json() as { id: string };
    const png = await post(
      form(
        { title: 'Logo' },
        {
          name: 'logo.pdf',
          type: 'application/pdf',
          data: Buffer.from('89504e470d0a1a0a0000000d', 'hex'),
        },
      ),
    );
    expect(png.statusCode).toBe(415);
    expect((png.json() as { code: string }).code).toBe('unsupported_media_type');
    const missing = await post(form({ title: 'No file' }));
    expect(missing.statusCode).toBe(400);
    await worker.drain();
    const d = (await get(tenant.ownerKey, `/v1/documents/${id}`)).json() as Doc & {
      title: string;
      tags: string[];
    };
    expect(d).toMatchObject({
      title: 'notes.txt',
      sourceType: 'pdf',
      status: 'ready',
      pageCount: 1,
      tags: ['scotus', 'transcript'],
    });
    expect(d.chunkCount).toBeGreaterThan(0);
  });

  it('describes the multipart upload of POST /v1/documents in /openapi.json', async () => {
    const res = await app.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    interface Schema {
      properties: Record<string, { type?: string; format?: string }>;
      required?: string[];
    }
    const body = res.json<{
      paths: Record<
        string,
        { post: { requestBody: { content: Record<string, { schema: Schema }> } } }
      >;
    }>().paths['/v1/documents']?.post.requestBody.content;
    expect(Object.keys(body ?? {}).sort()).toEqual(['application/json', 'multipart/form-data']);
    const form = body?.['multipart/form-data']?.schema;
    expect(form?.properties.file).toMatchObject({ type: 'string', format: 'binary' });
    expect(Object.keys(form?.properties ?? {}).sort()).toEqual(['file', 'groups', 'tags', 'title']);
    expect(form?.required).toEqual(['file']);
    const json = body?.['application/json']?.schema;
    expect(Object.keys(json?.properties ?? {})).toEqual(
      expect.arrayContaining(['title', 'text', 'markdown', 'html', 'tags', 'groups']),
    );
  });

  it('hides group-restricted documents and their chunks from a key outside the group (404)', async () => {
    const mkKey = async (groups: string[], role: string) =>
      (
        (
          await app.app.inject({
            method: 'POST',
            url: '/v1/api-keys',
            headers: bearer(tenant.ownerKey),
            payload: { name: `k-${groups.join('-') || 'none'}`, role, groups },
          })
        ).json() as { secret: string }
      ).secret;
    await app.app.inject({
      method: 'POST',
      url: '/v1/groups',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'legal' },
    });
    const legalKey = await mkKey(['legal'], 'admin');
    // A member: owners and admins oversee every document (documents:manage).
    const plainKey = await mkKey([], 'member');
    const res = await upload(legalKey, {
      title: 'Merger memo',
      text: 'Confidential merger terms.',
      groups: ['legal'],
    });
    expect(res.statusCode).toBe(202);
    const { id } = res.json() as { id: string };
    await worker.drain();
    expect(await doc(id, legalKey)).toMatchObject({
      status: 'ready',
      groups: ['legal'],
      chunkCount: 1,
    });

    expect((await get(plainKey, `/v1/documents/${id}`)).statusCode).toBe(404);
    expect((await get(plainKey, `/v1/documents/${id}/chunks`)).statusCode).toBe(404);
    const listed = (await get(plainKey, '/v1/documents?limit=200')).json() as { data: Doc[] };
    expect(listed.data.map((d) => d.id)).not.toContain(id);
    const listedByMember = (await get(legalKey, '/v1/documents?limit=200')).json() as {
      data: Doc[];
    };
    expect(listedByMember.data.map((d) => d.id)).toContain(id);
    // The database itself refuses: no WHERE, no chunk of the restricted document.
    const visible = await t.db.withTenant({ tenantId: tenant.id, groups: ['sales'] }, (tx) =>
      tx.query<{ document_id: string }>(`SELECT document_id FROM chunks`),
    );
    expect(visible.rows.map((r) => r.document_id)).not.toContain(id);
    expect(
      (
        await app.app.inject({
          method: 'DELETE',
          url: `/v1/documents/${id}`,
          headers: bearer(plainKey),
        })
      ).statusCode,
    ).toBe(403);
  });

  it('lists with cursor pagination and status/tag filters', async () => {
    // Its own tenant and documents: the counts below do not depend on what earlier tests left.
    const own = await app.createTenant();
    for (const [title, tags] of [
      ['Apples', ['fruit']],
      ['Bolts', ['hardware']],
      ['Cables', ['hardware']],
    ] as const)
      expect(
        (await upload(own.ownerKey, { title, text: `${title} notes.`, tags })).statusCode,
      ).toBe(202);
    await worker.drain();
    const page1 = (await get(own.ownerKey, '/v1/documents?limit=2')).json() as {
      data: Doc[];
      nextCursor: string | null;
    };
    expect(page1.data).toHaveLength(2);
    const page2 = (
      await get(own.ownerKey, `/v1/documents?limit=2&cursor=${page1.nextCursor ?? ''}`)
    ).json() as { data: Doc[]; nextCursor: string | null };
    expect(page2.data).toHaveLength(1);
    expect(page2.nextCursor).toBeNull();
    expect(new Set([...page1.data, ...page2.data].map((d) => d.title))).toEqual(
      new Set(['Apples', 'Bolts', 'Cables']),
    );
    const ready = (await get(own.ownerKey, '/v1/documents?status=ready')).json() as {
      data: Doc[];
    };
    expect(ready.data.map((d) => d.status)).toEqual(['ready', 'ready', 'ready']);
    const failed = (await get(own.ownerKey, '/v1/documents?status=failed')).json() as {
      data: Doc[];
    };
    expect(failed.data).toEqual([]);
    const fruit = (await get(own.ownerKey, '/v1/documents?tag=fruit')).json() as {
      data: { title: string }[];
    };
    expect(fruit.data.map((d) => d.title)).toEqual(['Apples']);
  });

  it('rejects a cursor whose id is not a UUID with 400 naming the field (the shared cursor check)', async () => {
    // 36 dashes passed the knowledge copy's looser /^[0-9a-f-]{36}$/ and reached the uuid cast.
    const cursor = Buffer.from(JSON.stringify([new Date().toISOString(), '-'.repeat(36)])).toString(
      'base64url',
    );
    const res = await get(tenant.ownerKey, `/v1/documents?cursor=${cursor}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'invalid_input',
      errors: [{ field: 'query.cursor', message: 'invalid cursor' }],
    });
  });

  it('deletes a document with its chunks and cached embeddings, audited', async () => {
    const { id } = (
      await upload(tenant.ownerKey, { title: 'Temp', text: 'Short-lived words.' })
    ).json() as { id: string };
    await worker.drain();
    const counts = async () =>
      (
        await t.asOwner((q) =>
          q.query<{ chunks: number; blobs: number; cache: number }>(
            `SELECT (SELECT count(*)::int FROM chunks WHERE document_id = $1) AS chunks,
                    (SELECT count(*)::int FROM document_blobs WHERE document_id = $1) AS blobs,
                    (SELECT count(*)::int FROM embedding_cache WHERE tenant_id = $2
                       AND content_hash IN (SELECT content_hash FROM chunks WHERE document_id = $1)) AS cache`,
            [id, tenant.id],
          ),
        )
      ).rows[0];
    expect(await counts()).toEqual({ chunks: 1, blobs: 1, cache: 1 });
    const cacheBefore = await t.asOwner((q) =>
      q.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM embedding_cache WHERE tenant_id = $1`,
        [tenant.id],
      ),
    );
    const del = await app.app.inject({
      method: 'DELETE',
      url: `/v1/documents/${id}`,
      headers: bearer(tenant.ownerKey),
    });
    expect(del.statusCode).toBe(204);
    expect((await get(tenant.ownerKey, `/v1/documents/${id}`)).statusCode).toBe(404);
    expect(await counts()).toEqual({ chunks: 0, blobs: 0, cache: 0 });
    const cacheAfter = await t.asOwner((q) =>
      q.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM embedding_cache WHERE tenant_id = $1`,
        [tenant.id],
      ),
    );
    expect(cacheAfter.rows[0]?.n).toBe((cacheBefore.rows[0]?.n ?? 0) - 1);
    const audit = await t.asOwner((q) =>
      q.query<{ action: string }>(
        `SELECT action FROM audit_events WHERE tenant_id = $1 AND target_id = $2 ORDER BY seq`,
        [tenant.id, id],
      ),
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['document.created', 'document.deleted']);
  });

  it('a document whose job dies (worker lost on the last attempt) ends failed with a reason', async () => {
    const { id } = (
      await upload(tenant.ownerKey, { title: 'Orphan', text: 'Its worker vanished.' })
    ).json() as { id: string };
    const [job] = await worker.claim(1);
    expect(job?.payload).toMatchObject({ documentId: id });
    await t.asOwner((q) =>
      q.query(`UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = $1`, [
        job?.id,
      ]),
    );
    expect((await worker.drain()).map((o) => o.state)).toEqual(['dead']);
    expect(await doc(id)).toMatchObject({
      status: 'failed',
      failureReason:
        'Processing failed after 1 attempts: the worker running the last attempt stopped before finishing it',
    });
  });

  it('reports queue depth on /metrics', async () => {
    await upload(tenant.ownerKey, { title: 'Metered', text: 'Counted while queued.' });
    const scrape = async () => (await app.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(await scrape()).toContain('rampart_jobs{kind="knowledge.ingest",state="queued"} 1');
    await worker.drain();
    expect(await scrape()).not.toContain('state="queued"');
  });

  it("isolates tenants: another tenant's owner cannot see, list or delete the documents", async () => {
    const other = await app.createTenant();
    const { id } = (
      await upload(tenant.ownerKey, { title: 'Ours', text: 'Tenant A only.' })
    ).json() as { id: string };
    expect((await get(other.ownerKey, `/v1/documents/${id}`)).statusCode).toBe(404);
    const list = (await get(other.ownerKey, '/v1/documents')).json() as { data: Doc[] };
    expect(list.data).toEqual([]);
    expect(
      (
        await app.app.inject({
          method: 'DELETE',
          url: `/v1/documents/${id}`,
          headers: bearer(other.ownerKey),
        })
      ).statusCode,
    ).toBe(404);
    await worker.drain();
    expect((await doc(id)).status).toBe('ready');
  });
});
