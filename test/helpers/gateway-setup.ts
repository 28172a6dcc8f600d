import { expect } from 'vitest';
import { bearer, type TestApp } from './app.js';
import type { FakeUpstream } from '../fakes/fake-openai-upstream.js';

/**
 * A new tenant whose provider `main` is the fake upstream, and a `send` that makes one
 * configuration call as its owner and expects it to succeed.
 */
export async function tenantWithFakeProvider(app: TestApp, fake: FakeUpstream) {
  const tenant = await app.createTenant();
  const headers = bearer(tenant.ownerKey);
  const send = async (method: 'POST' | 'PUT', url: string, payload: object) => {
    const r = await app.app.inject({ method, url, headers, payload });
    expect(r.statusCode, r.body).toBeLessThan(300);
  };
  await send('POST', '/v1/providers', {
    name: 'main',
    type: 'openai',
    baseUrl: fake.baseUrl,
    apiKey: 'sk-fake',
  });
  return { tenant, send };
}
