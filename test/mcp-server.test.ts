import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';

interface ToolJson {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
}

describe.each(testDrivers())('MCP server at /mcp (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      {},
      {
        redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined,
      },
    );
    await app.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  async function connect(key: string, mode: 'legacy' | 'auto' = 'legacy'): Promise<Client> {
    const client = new Client({ name: 'test', version: '1' }, { versionNegotiation: { mode } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    return client;
  }

  async function tenantWithKeys() {
    const tenant = await app.createTenant();
    const call = apiClient(app);
    const key = async (role: string, groups: string[] = []) => {
      const r = await call('POST', '/v1/api-keys', tenant.ownerKey, {
        name: `${role}-${groups.join('-')}-${Math.random()}`,
        role,
        groups,
      });
      expect(r.status).toBe(201);
      return r.body as { id: string; secret: string };
    };
    return { tenant, call, key };
  }

  async function toolNames(key: string, mode: 'legacy' | 'auto' = 'legacy'): Promise<string[]> {
    const client = await connect(key, mode);
    const { tools } = await client.listTools();
    await client.close();
    return tools.map((x) => x.name).sort();
  }

  it('lists the tools a role may use: a viewer sees no SQL, agent or chat tool; both eras', async () => {
    const { tenant, key } = await tenantWithKeys();
    const viewer = await key('viewer');
    expect(await toolNames(viewer.secret)).toEqual([
      'ask',
      'get_document',
      'list_documents',
      'search_documents',
    ]);
    const all = [
      'ask',
      'chat',
      'get_document',
      'list_documents',
      'list_sql_sources',
      'run_agent',
      'search_documents',
      'sql_ask',
      'sql_query',
    ];
    expect(await toolNames(tenant.ownerKey)).toEqual(all);
    // The 2026-07-28 revision (server/discover, per-request envelope) serves the same list.
    expect(await toolNames(tenant.ownerKey, 'auto')).toEqual(all);

    const client = await connect(viewer.secret);
    const schema = (await client.listTools()).tools.find((x) => x.name === 'search_documents');
    // Generated from /v1/search's own zod schema (JSON Schema 2020-12).
    expect(schema?.inputSchema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      required: ['query'],
    });
    // A tool that is not listed cannot be called either.
    const refused = await client
      .callTool({ name: 'sql_query', arguments: { source: 'sample', sql: 'select 1' } })
      .then((r) => ({ ok: r.isError !== true, text: JSON.stringify(r) }))
      .catch((err: unknown) => ({ ok: false, text: String(err) }));
    expect(refused.ok).toBe(false);
    expect(refused.text).toMatch(/sql_query/);
    await client.close();
  });

  it('calls run as the caller: groups and tenants hold, errors carry the REST codes', async () => {
    const a = await tenantWithKeys();
    const b = await tenantWithKeys();
    for (const name of ['hr', 'sales'])
      expect((await a.call('POST', '/v1/groups', a.tenant.ownerKey, { name })).status).toBe(201);
    const doc = await a.call('POST', '/v1/documents', a.tenant.ownerKey, {
      title: 'Payroll secrets',
      text: 'Salaries are confidential.',
      groups: ['hr'],
    });
    expect(doc.status, doc.text).toBe(202);
    const docId = (doc.body as { id: string }).id;
    const hr = await a.key('member', ['hr']);
    const other = await a.key('member', ['sales']);

    const listed = async (key: string) => {
      const c = await connect(key);
      const r = (await c.callTool({ name: 'list_documents', arguments: {} })) as ToolJson;
      await c.close();
      return ((r.structuredContent?.data ?? []) as { id: string }[]).map((d) => d.id);
    };
    expect(await listed(hr.secret)).toContain(docId);
    // The 2026-07-28 revision serves calls as the same caller.
    const modern = await connect(hr.secret, 'auto');
    const got = (await modern.callTool({
      name: 'get_document',
      arguments: { id: docId },
    })) as ToolJson;
    expect(got.isError).not.toBe(true);
    expect(got.structuredContent).toMatchObject({ id: docId, title: 'Payroll secrets' });
    await modern.close();
    expect(await listed(other.secret)).not.toContain(docId);
    expect(await listed(b.tenant.ownerKey)).not.toContain(docId);

    const c = await connect(b.tenant.ownerKey);
    const r = (await c.callTool({ name: 'get_document', arguments: { id: docId } })) as ToolJson;
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ error: { code: 'not_found', status: 404 } });
    const sql = (await c.callTool({
      name: 'sql_query',
      arguments: { source: 'nope', sql: 'select 1' },
    })) as ToolJson;
    expect(sql.isError).toBe(true);
    expect(sql.structuredContent).toMatchObject({ error: { status: 404 } });
    await c.close();
  });

  it('refuses missing, bad and revoked credentials with 401 naming the resource metadata', async () => {
    const none = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(none.status).toBe(401);
    const challenge = none.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain(
      `resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
    );
    const meta = await fetch(`${base}/.well-known/oauth-protected-resource/mcp`);
    expect(await meta.json()).toMatchObject({
      resource: `${base}/mcp`,
      bearer_methods_supported: ['header'],
    });

    const { tenant, call, key } = await tenantWithKeys();
    const k = await key('member');
    expect(await toolNames(k.secret)).toContain('sql_query');
    expect((await call('DELETE', `/v1/api-keys/${k.id}`, tenant.ownerKey)).status).toBe(204);
    const err = await connect(k.secret).catch((e: unknown) => e);
    expect(String(err)).toMatch(/401|nauthorized/);
  });

  it('refuses a foreign Host or Origin (DNS rebinding)', async () => {
    const { tenant } = await tenantWithKeys();
    const post = (headers: Record<string, string>) =>
      app.app.inject({
        method: 'POST',
        url: '/mcp',
        headers: {
          authorization: `Bearer ${tenant.ownerKey}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        payload: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
    expect((await post({ host: 'evil.example' })).statusCode).toBe(403);
    expect((await post({ host: 'localhost', origin: 'http://evil.example' })).statusCode).toBe(403);
  });
});
