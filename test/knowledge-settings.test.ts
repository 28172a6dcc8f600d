import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const TEXT = 'Contact jane.doe@example.com about the invoice.';

describe.each(testDrivers())('knowledge hub: per-tenant PII masking (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;

  const call = (key: string, method: 'GET' | 'PUT' | 'POST', url: string, payload?: unknown) =>
    app.app.inject({
      method,
      url,
      headers: bearer(key),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  const ingestAndReadChunks = async (key: string): Promise<string[]> => {
    const res = await call(key, 'POST', '/v1/documents', { title: 'Invoice', text: TEXT });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { id: string }).id;
    await createWorker(t.db, app.config).drain();
    const chunks = await call(key, 'GET', `/v1/documents/${id}/chunks`);
    expect(chunks.statusCode).toBe(200);
    return (chunks.json() as { data: { text: string }[] }).data.map((c) => c.text);
  };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('masks by default', async () => {
    const tenant = await app.createTenant();
    expect((await call(tenant.ownerKey, 'GET', '/v1/knowledge/settings')).json()).toEqual({
      piiMasking: true,
      adminsReadRestricted: false,
      embeddingAlias: null,
      answerAlias: null,
    });
    expect(await ingestAndReadChunks(tenant.ownerKey)).toEqual([
      'Contact [EMAIL] about the invoice.',
    ]);
  });

  it('a tenant that turns masking off stores raw e-mails; only admins may change it', async () => {
    const tenant = await app.createTenant();
    const member = (
      (
        await call(tenant.ownerKey, 'POST', '/v1/api-keys', { name: 'm', role: 'member' })
      ).json() as { secret: string }
    ).secret;
    const denied = await call(member, 'PUT', '/v1/knowledge/settings', { piiMasking: false });
    expect(denied.statusCode).toBe(403);

    const res = await call(tenant.ownerKey, 'PUT', '/v1/knowledge/settings', {
      piiMasking: false,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      piiMasking: false,
      adminsReadRestricted: false,
      embeddingAlias: null,
      answerAlias: null,
    });
    expect((await call(member, 'GET', '/v1/knowledge/settings')).json()).toEqual({
      piiMasking: false,
      adminsReadRestricted: false,
      embeddingAlias: null,
      answerAlias: null,
    });
    expect(await ingestAndReadChunks(tenant.ownerKey)).toEqual([TEXT]);

    const audit = await call(tenant.ownerKey, 'GET', '/v1/audit-events?limit=50');
    const actions = (audit.json() as { data: { action: string }[] }).data.map((e) => e.action);
    expect(actions).toContain('knowledge_settings.updated');

    // Another tenant is untouched (the row is per tenant, under RLS).
    const other = await app.createTenant();
    expect((await call(other.ownerKey, 'GET', '/v1/knowledge/settings')).json()).toEqual({
      piiMasking: true,
      adminsReadRestricted: false,
      embeddingAlias: null,
      answerAlias: null,
    });
  });

  it('rejects unknown settings', async () => {
    const tenant = await app.createTenant();
    const res = await call(tenant.ownerKey, 'PUT', '/v1/knowledge/settings', { masking: false });
    expect(res.statusCode).toBe(400);
  });
});
