import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/audit/service.js';
import { ERASURE_STEPS, recordStep } from '../src/governance/erasure-store.js';
import { readTar, sha256 } from '../src/governance/exports-tar.js';
import { subjectJobContext } from '../src/governance/subject-store.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { PEOPLE_ENV, signedInMember, type SignedIn } from './helpers/people.js';

interface Tenant {
  id: string;
  slug: string;
  ownerKey: string;
}

describe.each(testDrivers())('data subject export and erasure (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, PEOPLE_ENV, { redisUrl: TEST_REDIS_URL });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  const call = async (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    headers: Record<string, string>,
    payload?: unknown,
  ) => {
    const res = await app.app.inject({
      method,
      url,
      headers,
      ...(payload ? { payload: payload as object } : {}),
    });
    const body = res.body ? res.json<Record<string, unknown>>() : {};
    return { status: res.statusCode, body, res };
  };

  /** A person with a session, a personal API key, a document (with its file) and group membership. */
  async function person(
    tenant: Tenant,
    email: string,
  ): Promise<SignedIn & { key: string; docId: string }> {
    const who = await signedInMember(app, tenant, email, 'admin');
    const key = await call('POST', '/v1/api-keys', bearer(tenant.ownerKey), {
      name: `key of ${email}`,
      role: 'member',
      userId: who.userId,
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const secret = String(key.body.key ?? key.body.secret ?? key.body.apiKey);
    const doc = await call('POST', '/v1/documents', bearer(secret), {
      title: `Notes of ${email.split('@')[0] ?? ''}`,
      text: `Private notes written by ${email.split('@')[0] ?? ''}.`,
    });
    expect(doc.status, JSON.stringify(doc.body)).toBe(202);
    const group = await call('POST', '/v1/groups', bearer(tenant.ownerKey), {
      name: `g-${who.userId.slice(0, 8)}`,
    });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
    const groupId = String((group.body.group as { id?: string } | undefined)?.id ?? group.body.id);
    const added = await app.app.inject({
      method: 'PUT',
      url: `/v1/groups/${groupId}/members/${who.userId}`,
      headers: bearer(tenant.ownerKey),
    });
    expect(added.statusCode, added.body).toBeLessThan(300);
    return {
      ...who,
      key: secret,
      docId: String((doc.body.document as { id?: string } | undefined)?.id ?? doc.body.id),
    };
  }

  async function exportDone(tenant: Tenant, headers: Record<string, string>, subject: unknown) {
    const res = await call('POST', '/v1/exports', headers, { subject });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = String(res.body.id);
    await app.subjects.runner.runExport(tenant.id, id);
    const got = await call('GET', `/v1/exports/${id}`, headers);
    expect(got.body).toMatchObject({ status: 'completed' });
    return got.body as { id: string; sha256: string; download: { url: string; expiresAt: string } };
  }

  function manifestOf(archive: Buffer) {
    const entries = readTar(archive);
    const byName = new Map(entries.map((e) => [e.name, e.content]));
    const manifest = JSON.parse(String(byName.get('manifest.json'))) as {
      entries: { path: string; bytes: number; sha256: string; rows?: number }[];
    };
    return { byName, manifest };
  }

  function jsonl(byName: Map<string, Buffer>, name: string): Record<string, unknown>[] {
    const text = byName.get(name)?.toString() ?? '';
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('exports a person: JSON Lines per data class, the original files, a manifest whose checksums match; the download is audited and its link expires', async () => {
    const tenant = await app.createTenant();
    const alice = await person(tenant, 'alice.export@example.com');
    const bob = await person(tenant, 'bob.export@example.com');
    const done = await exportDone(tenant, alice.writeHeaders, { userId: alice.userId });
    const dl = await app.app.inject({ method: 'GET', url: done.download.url });
    expect(dl.statusCode, dl.body).toBe(200);
    expect(dl.headers['content-type']).toContain('application/x-tar');
    expect(sha256(dl.rawPayload)).toBe(done.sha256);
    const { byName, manifest } = manifestOf(dl.rawPayload);
    for (const e of manifest.entries) {
      const content = byName.get(e.path);
      expect(content, e.path).toBeDefined();
      expect(sha256(content as Buffer), e.path).toBe(e.sha256);
      expect(content?.length).toBe(e.bytes);
    }
    expect(jsonl(byName, 'data/profile.jsonl')).toEqual([
      expect.objectContaining({ id: alice.userId, email: 'alice.export@example.com' }),
    ]);
    expect(jsonl(byName, 'data/documents.jsonl').map((d) => d.id)).toEqual([alice.docId]);
    expect(byName.get(`files/${alice.docId}`)?.toString()).toContain(
      'Private notes written by alice',
    );
    expect(byName.has(`files/${bob.docId}`)).toBe(false);
    expect(jsonl(byName, 'data/api_keys.jsonl')).toHaveLength(1);
    expect(jsonl(byName, 'data/api_keys.jsonl')[0]).not.toHaveProperty('secret_hash');
    expect(jsonl(byName, 'data/sessions.jsonl').length).toBeGreaterThan(0);
    // Audit events show who did what (revealed from pseudonyms), and nobody else's.
    const audit = jsonl(byName, 'data/audit_events.jsonl');
    expect(audit.length).toBeGreaterThan(0);
    expect(audit.some((e) => e.actor_id === alice.userId && e.ip === '127.0.0.1')).toBe(true);
    expect(JSON.stringify(dl.rawPayload.toString())).not.toContain('bob.export@example.com');
    // The download is audited.
    const events = await call(
      'GET',
      '/v1/audit-events?action=export.downloaded',
      bearer(tenant.ownerKey),
    );
    expect((events.body.data as unknown[]).length).toBe(1);
    // A forged or expired link is refused.
    // One character of the signature changed (to another character: never the same one).
    const forged = await app.app.inject({
      method: 'GET',
      url: done.download.url.replace(/sig=(.)/, (_m, c: string) => `sig=${c === '0' ? '1' : '0'}`),
    });
    expect([403, 400]).toContain(forged.statusCode);
    const { signExportLink } = await import('../src/governance/exports-links.js');
    const old = signExportLink(
      app.config.RAMPART_SECRET_KEY as string,
      tenant.id,
      done.id,
      60,
      Date.now() - 3_600_000,
    );
    const expired = await app.app.inject({ method: 'GET', url: old.url });
    expect(expired.statusCode).toBe(410);
    expect(expired.json()).toMatchObject({ code: 'link_expired' });
  });

  it('a member cannot export another person or the tenant, nor read an export that is not theirs', async () => {
    const tenant = await app.createTenant();
    const alice = await signedInMember(app, tenant, 'alice.member@example.com', 'member');
    const bob = await signedInMember(app, tenant, 'bob.member@example.com', 'member');
    expect(
      (await call('POST', '/v1/exports', alice.writeHeaders, { subject: { userId: bob.userId } }))
        .body,
    ).toMatchObject({ code: 'owner_required' });
    expect(
      (await call('POST', '/v1/exports', alice.writeHeaders, { subject: { tenant: true } })).status,
    ).toBe(403);
    const bobs = await call('POST', '/v1/exports', bob.writeHeaders, {
      subject: { userId: bob.userId },
    });
    expect(bobs.status).toBe(202);
    expect(
      (await call('GET', `/v1/exports/${String(bobs.body.id)}`, alice.writeHeaders)).status,
    ).toBe(404);
  });

  it('exports the whole tenant for an owner', async () => {
    const tenant = await app.createTenant();
    const alice = await person(tenant, 'alice.tenant@example.com');
    const bob = await person(tenant, 'bob.tenant@example.com');
    const done = await exportDone(tenant, bearer(tenant.ownerKey), { tenant: true });
    const dl = await app.app.inject({ method: 'GET', url: done.download.url });
    const { byName, manifest } = manifestOf(dl.rawPayload);
    for (const e of manifest.entries) expect(sha256(byName.get(e.path) as Buffer)).toBe(e.sha256);
    expect(jsonl(byName, 'data/profile.jsonl').map((u) => u.email)).toEqual(
      expect.arrayContaining(['alice.tenant@example.com', 'bob.tenant@example.com']),
    );
    expect(byName.has(`files/${alice.docId}`) && byName.has(`files/${bob.docId}`)).toBe(true);
  });

  /** Every text, uuid, array and JSON column of every table, searched for the needles (as the owner). */
  async function rowsNaming(needles: string[]): Promise<string[]> {
    return t.asOwner(async (q) => {
      const { rows: cols } = await q.query<{ table_name: string; column_name: string }>(
        `SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables tb ON tb.table_name = c.table_name AND tb.table_schema = c.table_schema
          WHERE c.table_schema = 'public' AND tb.table_type = 'BASE TABLE'
            AND c.data_type IN ('text', 'uuid', 'json', 'jsonb', 'ARRAY', 'character varying')
          ORDER BY 1, 2`,
      );
      const found: string[] = [];
      for (const c of cols) {
        for (const n of needles) {
          const { rows } = await q.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM "${c.table_name}" WHERE position(lower($1) in lower("${c.column_name}"::text)) > 0`,
            [n],
          );
          if ((rows[0]?.n ?? 0) > 0) found.push(`${c.table_name}.${c.column_name} ~ ${n}`);
        }
      }
      return found;
    });
  }

  async function erase(tenant: Tenant, body: Record<string, unknown>) {
    const res = await call('POST', '/v1/erasures', bearer(tenant.ownerKey), body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return String(res.body.id);
  }

  it('erases a person everywhere (no row names them, checked from the catalogue), keeps the audit chain verifiable, and is idempotent', async () => {
    const tenant = await app.createTenant();
    const email = 'carol.erase@example.com';
    const carol = await person(tenant, email);
    const dave = await person(tenant, 'dave.stays@example.com');
    await exportDone(tenant, carol.writeHeaders, { userId: carol.userId });
    expect((await rowsNaming([carol.userId, email])).length).toBeGreaterThan(0);
    const id = await erase(tenant, { userId: carol.userId, documents: 'delete' });
    await app.subjects.runner.runErasure(tenant.id, id);
    const result = await call('GET', `/v1/erasures/${id}`, bearer(tenant.ownerKey));
    expect(result.body).toMatchObject({ status: 'completed' });
    const counts = result.body.counts as Record<string, number>;
    expect(counts).toMatchObject({
      documents: 1,
      api_keys: 1,
      memberships: 1,
      users: 1,
      group_members: 1,
    });
    expect(counts.sessions).toBeGreaterThan(0);
    expect(counts.audit_subject_keys).toBeGreaterThan(0);
    expect(await rowsNaming([carol.userId, email])).toEqual([]);
    expect(await verifyChain(t.db, tenant.id)).toMatchObject({ ok: true });
    // A user's address is stored sealed under their key (gone for Carol, opened for Dave).
    const open = await t.asOwner((q) =>
      q.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events
          WHERE tenant_id = $1 AND actor_type = 'user' AND ip IS NOT NULL AND ip NOT LIKE 'sealed:%'`,
        [tenant.id],
      ),
    );
    expect(open.rows[0]?.n).toBe(0);
    // Others are still shown by who they are in audit reads.
    const events = await call(
      'GET',
      `/v1/audit-events?actorId=${dave.userId}`,
      bearer(tenant.ownerKey),
    );
    expect((events.body.data as { actor: { id: string } }[]).length).toBeGreaterThan(0);
    expect((events.body.data as { actor: { id: string } }[])[0]?.actor.id).toBe(dave.userId);
    expect((events.body.data as { ip: string }[])[0]?.ip).toBe('127.0.0.1');
    // Dave's document is untouched.
    const docs = await t.asOwner((q) =>
      q.query<{ n: number }>('SELECT count(*)::int AS n FROM documents WHERE id = $1', [
        dave.docId,
      ]),
    );
    expect(docs.rows[0]?.n).toBe(1);
    // Run again, and asked again: nothing left to do, still verifiable.
    await app.subjects.runner.runErasure(tenant.id, id);
    const again = await erase(tenant, { userId: carol.userId, documents: 'delete' });
    await app.subjects.runner.runErasure(tenant.id, again);
    const second = await call('GET', `/v1/erasures/${again}`, bearer(tenant.ownerKey));
    expect(second.body).toMatchObject({ status: 'completed' });
    // Nothing left but the key the second request's own audit event made for the pseudonym.
    const { audit_subject_keys: keys, ...rest } = second.body.counts as Record<string, number>;
    expect(Object.values(rest).every((n) => n === 0)).toBe(true);
    expect(keys).toBe(1);
    expect(await rowsNaming([carol.userId, email])).toEqual([]);
    expect(await verifyChain(t.db, tenant.id)).toMatchObject({ ok: true });
  });

  it('resumes an erasure from the first step not recorded, and transfer mode moves the documents', async () => {
    const tenant = await app.createTenant();
    const erin = await person(tenant, 'erin.transfer@example.com');
    const frank = await person(tenant, 'frank.receives@example.com');
    const id = await erase(tenant, {
      userId: erin.userId,
      documents: 'transfer',
      transferTo: frank.userId,
    });
    // A worker did the first step and died before the next.
    const first = ERASURE_STEPS[0];
    if (!first) throw new Error('no erasure steps');
    await t.db.withTenant(subjectJobContext(tenant.id, []), async (tx) => {
      const { rows } = await tx.query<{ user_id: string; email: string; pseudonym: string }>(
        'SELECT user_id, email, pseudonym FROM subject_erasures WHERE id = $1',
        [id],
      );
      const r = rows[0];
      if (!r) throw new Error('erasure row missing');
      const counts = await first.run(tx, {
        id,
        userId: r.user_id,
        email: r.email,
        pseudonym: r.pseudonym,
        documents: 'transfer',
        transferTo: frank.userId,
      });
      await recordStep(tx, id, first.name, counts);
    });
    const mid = await call('GET', `/v1/erasures/${id}`, bearer(tenant.ownerKey));
    expect(mid.body).toMatchObject({ status: 'running', steps: ['access'] });
    await app.subjects.runner.runErasure(tenant.id, id);
    const done = await call('GET', `/v1/erasures/${id}`, bearer(tenant.ownerKey));
    expect(done.body).toMatchObject({
      status: 'completed',
      counts: expect.objectContaining({ api_keys: 1, documents_transferred: 1 }),
    });
    expect((done.body.steps as string[]).filter((s) => s === 'access')).toHaveLength(1);
    const doc = await t.asOwner((q) =>
      q.query<{ uploaded_by_user: string; created_by: string }>(
        'SELECT uploaded_by_user, created_by FROM documents WHERE id = $1',
        [erin.docId],
      ),
    );
    expect(doc.rows[0]).toEqual({
      uploaded_by_user: frank.userId,
      created_by: `user:${frank.userId}`,
    });
    expect(await rowsNaming([erin.userId, 'erin.transfer@example.com'])).toEqual([]);
    expect(await verifyChain(t.db, tenant.id)).toMatchObject({ ok: true });
  });

  it('only an owner may erase', async () => {
    const tenant = await app.createTenant();
    const admin = await signedInMember(app, tenant, 'admin.noerase@example.com', 'admin');
    const res = await call('POST', '/v1/erasures', admin.writeHeaders, {
      userId: admin.userId,
      documents: 'delete',
    });
    expect(res.status).toBe(403);
  });

  it('refuses to erase a person under a legal hold, and erases once the hold is released', async () => {
    const tenant = await app.createTenant();
    const held = await signedInMember(app, tenant, 'held.person@example.com', 'member');
    const hold = await call('PUT', '/v1/governance/holds', bearer(tenant.ownerKey), {
      scope: 'user',
      subjectId: held.userId,
      reason: 'litigation',
    });
    expect(hold.status, JSON.stringify(hold.body)).toBeLessThan(300);
    const refused = await call('POST', '/v1/erasures', bearer(tenant.ownerKey), {
      userId: held.userId,
      documents: 'delete',
    });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('legal_hold');
    const released = await call(
      'DELETE',
      `/v1/governance/holds/${String(hold.body.id)}`,
      bearer(tenant.ownerKey),
    );
    expect(released.status).toBeLessThan(300);
    const accepted = await call('POST', '/v1/erasures', bearer(tenant.ownerKey), {
      userId: held.userId,
      documents: 'delete',
    });
    expect(accepted.status).toBe(202);
  });
});
