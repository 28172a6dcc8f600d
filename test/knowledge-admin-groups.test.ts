import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient, auditOf } from './helpers/identity-api.js';

const SECRET_TEXT = 'The settlement amount is confidential and closes in Zanzibar.';

interface Hit {
  documentId: string;
  text: string;
}

// Owners and admins oversee every document (documents:manage): they see each one's metadata and
// status and may delete it, whatever its groups. Content of a restricted document stays with its
// groups unless the tenant turns adminsReadRestricted on. All of it by row-level security.
describe.each(testDrivers())('documents: oversight by documents:manage (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let call: ReturnType<typeof apiClient>;
  let worker: JobQueue;
  let tenant: { id: string; ownerKey: string };
  let legalKey: string;
  let memberKey: string;

  const newKey = async (body: Record<string, unknown>) => {
    const r = await call('POST', '/v1/api-keys', tenant.ownerKey, body);
    expect(r.status, r.text).toBe(201);
    return r.body as { id: string; secret: string };
  };
  const newGroup = async (name: string) => {
    const r = await call('POST', '/v1/groups', tenant.ownerKey, { name });
    expect(r.status, r.text).toBe(201);
    return r.body as { id: string; name: string };
  };
  const upload = (key: string, title: string, text: string, groups: string[]) =>
    call('POST', '/v1/documents', key, { title, text, groups });
  const uploaded = async (key: string, title: string, text: string, groups: string[]) => {
    const r = await upload(key, title, text, groups);
    expect(r.status, r.text).toBe(202);
    await worker.drain();
    return (r.body as { id: string }).id;
  };
  const searchIds = async (key: string, query: string) => {
    const ids = new Set<string>();
    for (const mode of ['keyword', 'vector', 'hybrid']) {
      const r = await call('POST', '/v1/search', key, { query, mode, k: 20 });
      expect(r.status, r.text).toBe(200);
      for (const h of (r.body as { data: Hit[] }).data) ids.add(h.documentId);
    }
    return ids;
  };
  const askCites = async (key: string, question: string) => {
    const r = await call('POST', '/v1/ask', key, { question });
    expect(r.status, r.text).toBe(200);
    const body = r.body as { answer: string; citations: { documentId: string }[] };
    return { answer: body.answer, docs: body.citations.map((c) => c.documentId) };
  };
  const listedIds = async (key: string) =>
    (
      (await call('GET', '/v1/documents?limit=100', key)).body as { data: { id: string }[] }
    ).data.map((d) => d.id);
  const setReadRestricted = async (on: boolean) => {
    const r = await call('PUT', '/v1/knowledge/settings', tenant.ownerKey, {
      adminsReadRestricted: on,
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ adminsReadRestricted: on });
  };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    // A long key-cache TTL: only eviction can explain a principal losing a group.
    app = await createTestApp(t.db, {
      QUEUE_RETRY_BASE_MS: '0',
      QUEUE_MAX_ATTEMPTS: '1',
      API_KEY_CACHE_TTL_MS: '60000',
    });
    call = apiClient(app);
    worker = createWorker(t.db, app.config);
    tenant = await app.createTenant();
    await newGroup('legal');
    legalKey = (await newKey({ name: 'legal reader', role: 'viewer', groups: ['legal'] })).secret;
    memberKey = (await newKey({ name: 'member', role: 'member' })).secret;
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('an owner filing a document under a group it is not in sees, follows and deletes it, but not its content', async () => {
    const id = await uploaded(tenant.ownerKey, 'Settlement memo', SECRET_TEXT, ['legal']);
    const asOwner = await call('GET', `/v1/documents/${id}`, tenant.ownerKey);
    expect(asOwner.status).toBe(200);
    expect(asOwner.body).toMatchObject({ id, status: 'ready', groups: ['legal'], chunkCount: 1 });
    expect(await listedIds(tenant.ownerKey)).toContain(id);
    // Content stays with the group.
    const chunks = await call('GET', `/v1/documents/${id}/chunks`, tenant.ownerKey);
    expect(chunks.status).toBe(403);
    expect(chunks.body).toMatchObject({ code: 'content_restricted' });
    expect(chunks.text).not.toContain('Zanzibar');
    expect(await searchIds(tenant.ownerKey, 'settlement Zanzibar')).not.toContain(id);
    const ask = await askCites(tenant.ownerKey, 'Where does the settlement close?');
    expect(ask.docs).not.toContain(id);
    expect(ask.answer).not.toContain('Zanzibar');
    // A member without the group: not even its existence.
    expect((await call('GET', `/v1/documents/${id}`, memberKey)).status).toBe(404);
    expect(await listedIds(memberKey)).not.toContain(id);
    // The group reads it all.
    const legalChunks = await call('GET', `/v1/documents/${id}/chunks`, legalKey);
    expect(legalChunks.status).toBe(200);
    expect(legalChunks.text).toContain('Zanzibar');
    expect(await searchIds(legalKey, 'settlement Zanzibar')).toContain(id);
    // The owner now sees the existing copy, so a re-upload is reported as the duplicate it is.
    const again = await upload(tenant.ownerKey, 'Settlement memo', SECRET_TEXT, ['legal']);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ id, duplicate: true });
    // And deletes it.
    const del = await call('DELETE', `/v1/documents/${id}`, tenant.ownerKey);
    expect(del.status).toBe(204);
    expect((await call('GET', `/v1/documents/${id}`, legalKey)).status).toBe(404);
  });

  it('with adminsReadRestricted on, owners and admins read restricted content too; members still do not', async () => {
    const id = await uploaded(tenant.ownerKey, 'Settlement memo 2', `${SECRET_TEXT} Two.`, [
      'legal',
    ]);
    const adminKey = (await newKey({ name: 'admin', role: 'admin' })).secret;
    await setReadRestricted(true);
    try {
      for (const key of [tenant.ownerKey, adminKey]) {
        const chunks = await call('GET', `/v1/documents/${id}/chunks`, key);
        expect(chunks.status).toBe(200);
        expect(chunks.text).toContain('Zanzibar');
        expect(await searchIds(key, 'settlement Zanzibar')).toContain(id);
        expect((await askCites(key, 'Where does the settlement close?')).docs).toContain(id);
      }
      expect((await call('GET', `/v1/documents/${id}`, memberKey)).status).toBe(404);
      expect(await searchIds(memberKey, 'settlement Zanzibar')).not.toContain(id);
    } finally {
      await setReadRestricted(false);
    }
    expect((await call('GET', `/v1/documents/${id}/chunks`, adminKey)).status).toBe(403);
    await call('DELETE', `/v1/documents/${id}`, tenant.ownerKey);
  });

  it('the uploader keeps seeing the status of its own document after leaving its group', async () => {
    await newGroup('hr');
    const uploader = await newKey({ name: 'hr writer', role: 'member', groups: ['hr'] });
    const id = await uploaded(uploader.secret, 'Salaries', 'Salary bands are reviewed yearly.', [
      'hr',
    ]);
    const patch = await call('PATCH', `/v1/api-keys/${uploader.id}`, tenant.ownerKey, {
      groups: [],
    });
    expect(patch.status).toBe(200);
    const mine = await call('GET', `/v1/documents/${id}`, uploader.secret);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ id, status: 'ready' });
    expect((await call('GET', `/v1/documents/${id}/chunks`, uploader.secret)).status).toBe(403);
    expect((await call('GET', `/v1/documents/${id}`, memberKey)).status).toBe(404);
  });

  it('deleting a group takes it out of keys, users and documents at once, in one audited transaction', async () => {
    await newGroup('gx');
    const gy = await newGroup('gy');
    const reader = await newKey({ name: 'gy reader', role: 'viewer', groups: ['gy'] });
    const user = (
      await call('POST', '/v1/users', tenant.ownerKey, {
        email: `gy-${Date.now()}@example.com`,
        role: 'viewer',
      })
    ).body as { id: string };
    expect(
      (await call('PUT', `/v1/groups/${gy.id}/members/${user.id}`, tenant.ownerKey)).status,
    ).toBe(204);
    const id = await uploaded(tenant.ownerKey, 'Shared memo', 'The gy team meets on Tuesdays.', [
      'gx',
      'gy',
    ]);
    // Cached with its groups.
    expect((await call('GET', `/v1/documents/${id}`, reader.secret)).status).toBe(200);
    expect((await call('GET', `/v1/documents/${id}/chunks`, reader.secret)).status).toBe(200);

    const del = await call('DELETE', `/v1/groups/${gy.id}`, tenant.ownerKey);
    expect(del.status, del.text).toBe(204);
    // At once, with no wait for a notification.
    expect((await call('GET', `/v1/documents/${id}`, reader.secret)).status).toBe(404);
    expect((await call('GET', '/v1/me', reader.secret)).body).toMatchObject({
      principal: { groups: [] },
    });
    expect((await call('GET', `/v1/api-keys/${reader.id}`, tenant.ownerKey)).body).toMatchObject({
      groups: [],
    });
    expect((await call('GET', `/v1/users/${user.id}`, tenant.ownerKey)).body).toMatchObject({
      groups: [],
    });
    expect((await call('GET', `/v1/documents/${id}`, tenant.ownerKey)).body).toMatchObject({
      groups: ['gx'],
    });
    // The chunks' and postings' copies follow the document.
    const copies = await t.asOwner(async (q) => ({
      chunks: (
        await q.query<{ groups: string[] }>('SELECT groups FROM chunks WHERE document_id = $1', [
          id,
        ])
      ).rows.map((r) => r.groups),
      postings: (
        await q.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM chunk_terms WHERE document_id = $1 AND 'gy' = ANY(groups)`,
          [id],
        )
      ).rows[0]?.n,
    }));
    expect(copies.chunks).toEqual([['gx']]);
    expect(copies.postings).toBe(0);
    expect(await auditOf(t, tenant.id, del.requestId)).toEqual([
      expect.objectContaining({
        action: 'group.deleted',
        target_id: gy.id,
        details: {
          name: 'gy',
          members: [user.id],
          counts: { users: 1, keys: 1, documents: 1 },
        },
      }),
    ]);
    // A group of the same name made later grants nothing the old one had.
    await newGroup('gy');
    expect((await call('GET', `/v1/documents/${id}`, reader.secret)).status).toBe(404);
  });

  it('refuses to delete a group that is the only group of a document (it would become tenant-wide)', async () => {
    const solo = await newGroup('solo');
    const id = await uploaded(tenant.ownerKey, 'Solo memo', 'Only the solo team reads this.', [
      'solo',
    ]);
    const refused = await call('DELETE', `/v1/groups/${solo.id}`, tenant.ownerKey);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'group_in_use', documents: [id], documentCount: 1 });
    expect((await call('GET', `/v1/documents/${id}`, memberKey)).status).toBe(404);
    expect((await call('DELETE', `/v1/documents/${id}`, tenant.ownerKey)).status).toBe(204);
    expect((await call('DELETE', `/v1/groups/${solo.id}`, tenant.ownerKey)).status).toBe(204);
  });

  it('refuses documents filed under groups that do not exist', async () => {
    const r = await upload(tenant.ownerKey, 'Ghost memo', 'Nobody can read this.', [
      'legal',
      'ghosts',
    ]);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'unknown_group', groups: ['ghosts'] });
  });

  it('RLS alone enforces it: queries with no tenant or group WHERE, as the application role', async () => {
    const id = await uploaded(tenant.ownerKey, 'RLS memo', 'Policies decide who reads this.', [
      'legal',
    ]);
    const other = await app.createTenant();
    const otherDoc = await uploaded(other.ownerKey, 'Other memo', 'Another tenant entirely.', []);
    const manage = new Set(['documents:manage']);
    const seen = (ctx: { permissions?: Set<string>; groups?: string[] }) =>
      t.db.withTenant({ tenantId: tenant.id, groups: [], ...ctx }, async (tx) => {
        const ids = async (sql: string) =>
          (await tx.query<{ id: string }>(sql)).rows.map((r) => r.id);
        return {
          documents: await ids('SELECT id FROM documents'),
          chunks: await ids('SELECT document_id AS id FROM chunks'),
          postings: await ids('SELECT DISTINCT document_id AS id FROM chunk_terms'),
          blobs: await ids('SELECT document_id AS id FROM document_blobs'),
        };
      });
    const plain = await seen({});
    expect(plain.documents).not.toContain(id);
    const managed = await seen({ permissions: manage });
    expect(managed.documents).toContain(id);
    expect(managed.documents).not.toContain(otherDoc);
    expect(managed.chunks).not.toContain(id);
    expect(managed.postings).not.toContain(id);
    expect(managed.blobs).not.toContain(id);
    const grouped = await seen({ groups: ['legal'] });
    expect(
      [grouped.documents, grouped.chunks, grouped.postings, grouped.blobs].map((l) =>
        l.includes(id),
      ),
    ).toEqual([true, true, true, true]);
    await setReadRestricted(true);
    try {
      const reading = await seen({ permissions: manage });
      expect([reading.chunks, reading.postings, reading.blobs].map((l) => l.includes(id))).toEqual([
        true,
        true,
        true,
      ]);
      expect(reading.chunks).not.toContain(otherDoc);
      // The setting alone opens nothing: it is for documents:manage holders.
      expect((await seen({})).chunks).not.toContain(id);
    } finally {
      await setReadRestricted(false);
    }
    // Deleting: without documents:manage or the group, no row is there to delete.
    const deleted = (ctx: { permissions?: Set<string> }) =>
      t.db.withTenant({ tenantId: tenant.id, groups: [], ...ctx }, async (tx) => {
        const r = await tx.query('DELETE FROM documents WHERE id = $1', [id]);
        return r.rowCount;
      });
    expect(await deleted({})).toBe(0);
    expect(await deleted({ permissions: manage })).toBe(1);
  });
});
