import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgErrorCode } from '../src/platform/db/sql.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

/** Tables that hold tenant data: every table with a tenant_id column (found from the catalog, not a list). */
async function tenantTables(t: TestDatabase): Promise<string[]> {
  const { rows } = await t.asOwner((q) =>
    q.query<{ table_name: string }>(
      `SELECT c.table_name FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
        ORDER BY 1`,
    ),
  );
  return rows.map((r) => r.table_name);
}

/** Gives a tenant at least one row in every identity table the API does not fill at creation. */
async function seedTenant(t: TestDatabase, tenantId: string, tag: string): Promise<string> {
  return t.asOwner(async (q) => {
    const { rows } = await q.query<{ id: string }>(
      `INSERT INTO users (email) VALUES ($1) RETURNING id`,
      [`${tag}-${tenantId}@example.com`],
    );
    const userId = (rows[0] as { id: string }).id;
    await q.query(`INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member')`, [
      tenantId,
      userId,
    ]);
    const g = await q.query<{ id: string }>(
      `INSERT INTO groups (tenant_id, name) VALUES ($1, 'legal') RETURNING id`,
      [tenantId],
    );
    await q.query(`INSERT INTO group_members (tenant_id, group_id, user_id) VALUES ($1, $2, $3)`, [
      tenantId,
      (g.rows[0] as { id: string }).id,
      userId,
    ]);
    // Knowledge tables and the job queue (migration 0002); tenant-wide, so visible with no groups.
    const doc = await q.query<{ id: string }>(
      `INSERT INTO documents (tenant_id, title, source_type, content_hash, bytes, created_by)
       VALUES ($1, 'Doc', 'text', repeat('a', 64), 5, 'test') RETURNING id`,
      [tenantId],
    );
    const docId = (doc.rows[0] as { id: string }).id;
    await q.query(
      `INSERT INTO document_blobs (document_id, tenant_id, content) VALUES ($1, $2, '\\x68656c6c6f')`,
      [docId, tenantId],
    );
    await q.query(
      `INSERT INTO chunks (tenant_id, document_id, ordinal, text, content_hash, token_count)
       VALUES ($1, $2, 0, 'hello', 'h', 1)`,
      [tenantId, docId],
    );
    await q.query(
      `INSERT INTO embedding_cache (tenant_id, model, content_hash, embedding) VALUES ($1, 'm', 'h', '[1,0]')`,
      [tenantId],
    );
    await q.query(`INSERT INTO jobs (tenant_id, kind) VALUES ($1, 'test.noop')`, [tenantId]);
    // Gateway tables (migration 0003).
    await q.query(
      `INSERT INTO providers (tenant_id, name, type, base_url, credential_key_id, credential_wrapped_key,
          credential_iv, credential_ciphertext, credential_tag)
       VALUES ($1, 'main', 'openai', 'http://127.0.0.1:9/v1', 'mk_test', '\\x00', '\\x00', '\\x00', '\\x00')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO model_routes (tenant_id, alias, targets) VALUES ($1, 'default', '[{"provider":"main","model":"m","weight":1}]')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO model_prices (tenant_id, model, input_per_mtok, output_per_mtok, cached_input_per_mtok) VALUES ($1, 'm', 1, 2, 0.5)`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO usage_events (tenant_id, endpoint, alias, latency_ms, status) VALUES ($1, 'chat', 'default', 1, 200)`,
      [tenantId],
    );
    // Gateway limits and budgets (migration 0004).
    await q.query(
      `INSERT INTO key_limits (key_id, tenant_id, models, limits)
         SELECT id, tenant_id, ARRAY['default'], '{"rpm": 1}' FROM api_keys WHERE tenant_id = $1 LIMIT 1`,
      [tenantId],
    );
    await q.query(`INSERT INTO tenant_limits (tenant_id, limits) VALUES ($1, '{"rpm": 1}')`, [
      tenantId,
    ]);
    await q.query(
      `INSERT INTO budget_spend (tenant_id, scope, scope_id, period_start) VALUES ($1, 'tenant', $1, '2026-01-01')`,
      [tenantId],
    );
    // Budget reservations of the Postgres budget path (migration 0007).
    await q.query(
      `INSERT INTO budget_reservations (id, tenant_id, scope, scope_id, period_start, amount_usd)
       VALUES (gen_random_uuid(), $1, 'tenant', $1, '2026-01-01', 1)`,
      [tenantId],
    );
    // Copilot (migration 0015): an agent, an HTTP action, a run with an event and an approval.
    await q.query(
      `INSERT INTO agents (tenant_id, name, instructions, model) VALUES ($1, 'a', 'i', 'default')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO tools (tenant_id, name, description, parameters, request)
       VALUES ($1, 'orders.create', 'd', '{"type":"object"}', '{"method":"POST","url":"https://x.test"}')`,
      [tenantId],
    );
    const run = await q.query<{ id: string }>(
      `INSERT INTO runs (tenant_id, agent_id, agent, caller_kind, caller_key_id, caller_role, input)
         SELECT $1, gen_random_uuid(), '{}', 'api_key', id, 'owner', '[]' FROM api_keys WHERE tenant_id = $1 LIMIT 1
       RETURNING id`,
      [tenantId],
    );
    const runId = (run.rows[0] as { id: string }).id;
    await q.query(
      `INSERT INTO run_events (tenant_id, run_id, seq, type) VALUES ($1, $2, 1, 'run.started')`,
      [tenantId, runId],
    );
    await q.query(
      `INSERT INTO approvals (tenant_id, run_id, call_id, tool, arguments, approver_role)
       VALUES ($1, $2, 'c1_0', 'orders.create', '{}', 'admin')`,
      [tenantId, runId],
    );
    // Knowledge settings (migration 0005).
    await q.query(`INSERT INTO knowledge_settings (tenant_id, pii_masking) VALUES ($1, false)`, [
      tenantId,
    ]);
    // Text-to-SQL sources (migration 0020).
    await q.query(`INSERT INTO sql_sources (tenant_id, name, type) VALUES ($1, 'demo', 'sample')`, [
      tenantId,
    ]);
    // Webhooks: an endpoint, a delivery in its outbox and an attempt (migration 0060).
    const hook = await q.query<{ id: string }>(
      `INSERT INTO webhook_endpoints (tenant_id, url, events, secret_envelope)
       VALUES ($1, 'https://hooks.example/x', '{document.ready}', '{}') RETURNING id`,
      [tenantId],
    );
    const hookId = (hook.rows[0] as { id: string }).id;
    const delivery = await q.query<{ id: string }>(
      `INSERT INTO webhook_deliveries (tenant_id, endpoint_id, seq, event_type, body)
       VALUES ($1, $2, 1, 'document.ready', '{}') RETURNING id`,
      [tenantId, hookId],
    );
    await q.query(
      `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, duration_ms, started_at)
       VALUES ($1, $2, 1, 5, now())`,
      [tenantId, (delivery.rows[0] as { id: string }).id],
    );
    // Usage rollups, billing export records and budget thresholds (migration 0085).
    await q.query(`INSERT INTO usage_rollup_cursors (tenant_id) VALUES ($1)`, [tenantId]);
    await q.query(
      `INSERT INTO usage_rollups (tenant_id, day, feature, alias, requests) VALUES ($1, '2026-01-01', 'chat', 'default', 1)`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO billing_customers (tenant_id, stripe_customer_id) VALUES ($1, 'cus_test')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO billing_exports (tenant_id, period, format, events, digest) VALUES ($1, '2026-01', 'csv', 1, repeat('a', 64))`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO budget_thresholds_crossed (tenant_id, scope, scope_id, period_start, threshold, budget_usd, spent_usd)
       VALUES ($1, 'tenant', $1, '2026-01-01', 50, 1, 0.5)`,
      [tenantId],
    );
    // Subject rights (0070): a pseudonym key, an export with its archive, an erasure record.
    await q.query(
      `INSERT INTO audit_subject_keys (tenant_id, kind, subject, pseudonym, key)
       VALUES ($1, 'user', $2, $3, '\\x00')`,
      [tenantId, `subject-${tag}`, `psn:${tag}-${tenantId}`],
    );
    const exported = await q.query<{ id: string }>(
      `INSERT INTO subject_exports (tenant_id, scope, requested_by) VALUES ($1, 'tenant', 'test') RETURNING id`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO export_archives (export_id, tenant_id, content) VALUES ($1, $2, '\\x00')`,
      [(exported.rows[0] as { id: string }).id, tenantId],
    );
    await q.query(
      `INSERT INTO subject_erasures (tenant_id, documents, requested_by) VALUES ($1, 'delete', 'test')`,
      [tenantId],
    );
    // Reconstruction records and the data policy (0075); the sampled judge's spend (0090).
    await q.query(
      `INSERT INTO request_records (tenant_id, request_id, kind, question, answer) VALUES ($1, $2, 'ask', 'q', '{}')`,
      [tenantId, `req-${tag}`],
    );
    await q.query(`INSERT INTO governance_data_policy (tenant_id) VALUES ($1)`, [tenantId]);
    await q.query(`INSERT INTO eval_judge_spend (tenant_id, day) VALUES ($1, '2026-01-01')`, [
      tenantId,
    ]);
    // Governance (migration 0065): a policy, a hold, a sweep and an audit checkpoint.
    await q.query(
      `INSERT INTO retention_policies (tenant_id, data_class, days, updated_by) VALUES ($1, 'usage', 30, 'test')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO legal_holds (tenant_id, scope, reason, created_by) VALUES ($1, 'tenant', 'x', 'test')`,
      [tenantId],
    );
    await q.query(`INSERT INTO retention_sweeps (tenant_id, period_start) VALUES ($1, now())`, [
      tenantId,
    ]);
    await q.query(
      `INSERT INTO audit_checkpoints (tenant_id, seq, hash, pruned, sig) VALUES ($1, 1, repeat('a', 64), 1, 'x')`,
      [tenantId],
    );
    // Plans, quotas and invoices (migration 0080): billing_plans is the operator's catalogue
    // (no tenant_id); every other table is the tenant's.
    const plan = await q.query<{ id: string }>(
      `INSERT INTO billing_plans (name, version, quotas, prices, hard_limit)
       VALUES ($1, 1, '{}', '{"baseUsd":0}', true) RETURNING id`,
      [`plan-${tag}-${tenantId}`],
    );
    await q.query(
      `INSERT INTO tenant_plans (tenant_id, plan_id, effective_from) VALUES ($1, $2, '2026-01-01')`,
      [tenantId, (plan.rows[0] as { id: string }).id],
    );
    await q.query(
      `INSERT INTO quota_counters (tenant_id, meter, period_start, used) VALUES ($1, 'requests', '2026-01-01', 3)`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO quota_thresholds (tenant_id, meter, period_start, percent, used, quota)
       VALUES ($1, 'requests', '2026-01-01', 80, 8, 10)`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO invoices (tenant_id, period, subtotal_cents, credits_cents, total_cents, document, closed_by)
       VALUES ($1, '2026-01', 0, 0, 0, '{}', 'operator')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO billing_credits (tenant_id, period, amount_micro_usd, reason) VALUES ($1, '2026-01', 1, 'x')`,
      [tenantId],
    );
    // External MCP servers (migration 0050), and a person's connection to one (0095).
    const mcp = await q.query<{ id: string }>(
      `INSERT INTO mcp_servers (tenant_id, name, url, auth_type) VALUES ($1, 'ext', 'https://mcp.example/mcp', 'none') RETURNING id`,
      [tenantId],
    );
    const mcpId = (mcp.rows[0] as { id: string }).id;
    await q.query(
      `INSERT INTO mcp_oauth_flows (tenant_id, server_id, user_id, state_hash, verifier_envelope,
         client_id, redirect_uri, resource, as_metadata, expires_at)
       VALUES ($1, $2, $3, encode(sha256(random()::text::bytea), 'hex'), '{}', 'c',
         'https://r.example/cb', 'https://mcp.example/mcp', '{}', now() + interval '10 minutes')`,
      [tenantId, mcpId, userId],
    );
    await q.query(
      `INSERT INTO mcp_user_connections (tenant_id, server_id, user_id, token_envelope, client_id,
         resource, as_metadata, has_refresh_token)
       VALUES ($1, $2, $3, '{}', 'c', 'https://mcp.example/mcp', '{}', false)`,
      [tenantId, mcpId, userId],
    );
    // Sign-in: the OIDC provider, an identity at it, and a session (migration 0025).
    await q.query(
      `INSERT INTO identity_oidc (tenant_id, issuer, client_id, secret_key_id, secret_wrapped_key,
         secret_iv, secret_ciphertext, secret_tag, scopes, groups_claim, default_role)
       VALUES ($1, 'https://idp.example', 'c', 'mk', '\\x00', '\\x00', '\\x00', '\\x00', '{openid}', 'groups', 'member')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO user_identities (tenant_id, issuer, subject, user_id) VALUES ($1, 'https://idp.example', $2::text, $2::uuid)`,
      [tenantId, userId],
    );
    await q.query(
      `INSERT INTO sessions (tenant_id, user_id, token_hash, method, idle_timeout_s, expires_at)
       VALUES ($1, $2, decode(md5(random()::text), 'hex'), 'oidc', 60, now() + interval '1 hour')`,
      [tenantId, userId],
    );
    // Tokens for apps (migration 0040).
    const fam = await q.query<{ id: string }>(
      `INSERT INTO token_families (tenant_id, user_id, audience, expires_at)
       VALUES ($1, $2, 'rampart', now() + interval '1 day') RETURNING id`,
      [tenantId, userId],
    );
    await q.query(
      `INSERT INTO refresh_tokens (token_hash, tenant_id, family_id, expires_at)
       VALUES (decode(md5(random()::text), 'hex'), $1, $2, now() + interval '1 day')`,
      [tenantId, (fam.rows[0] as { id: string }).id],
    );
    // An OAuth client (global) and an authorization code it was given (migration 0100).
    const clientId = `rmc_${tag}${tenantId.replace(/-/g, '').slice(0, 21)}`;
    await q.query(
      `INSERT INTO oauth_clients (id, auth_method, redirect_uris) VALUES ($1, 'none', ARRAY['https://app.example/cb'])`,
      [clientId],
    );
    await q.query(
      `INSERT INTO oauth_authorization_codes
         (code_hash, tenant_id, user_id, client_id, redirect_uri, code_challenge, resource, scope, expires_at)
       VALUES (decode(md5(random()::text), 'hex'), $1, $2, $3, 'https://app.example/cb', $4,
               'https://rampart.test/mcp', 'mcp', now() + interval '1 minute')`,
      [tenantId, userId, clientId, 'c'.repeat(43)],
    );
    // SCIM token (migration 0041).
    await q.query(
      `INSERT INTO scim_tokens (tenant_id, token_hash, prefix, created_by)
       VALUES ($1, decode(md5(random()::text), 'hex'), 'rmscim_x', 'test')`,
      [tenantId],
    );
    // External JWT trust (migration 0027).
    await q.query(
      `INSERT INTO identity_jwt (tenant_id, issuer, audience, jwks_uri, algorithms)
       VALUES ($1::uuid, 'https://idp.example', $1::text, 'https://idp.example/jwks', '{RS256}')`,
      [tenantId],
    );
    // Local accounts (migration 0026).
    await q.query(`INSERT INTO identity_settings (tenant_id) VALUES ($1)`, [tenantId]);
    await q.query(
      `INSERT INTO invitations (tenant_id, email, role, token_hash, created_by, expires_at)
       VALUES ($1, 'inv@example.com', 'member', decode(md5(random()::text), 'hex'), 'test', now() + interval '1 day')`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO local_credentials (tenant_id, user_id, password_hash) VALUES ($1, $2, 'x')`,
      [tenantId, userId],
    );
    // Evals (migration 0055): a dataset, a run of it, an answered request and its feedback.
    const ds = await q.query<{ id: string }>(
      `INSERT INTO eval_datasets (tenant_id, name, version, cases, content_hash, created_by)
       VALUES ($1, 'golden', 1, '[]', 'h', 'test') RETURNING id`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO eval_runs (tenant_id, dataset_id, passed, result, created_by) VALUES ($1, $2, true, '{}', 'test')`,
      [tenantId, (ds.rows[0] as { id: string }).id],
    );
    await q.query(
      `INSERT INTO answer_requests (tenant_id, request_id, supported) VALUES ($1, 'req-00000001', true)`,
      [tenantId],
    );
    await q.query(
      `INSERT INTO feedback (tenant_id, request_id, rating, score, rated_by) VALUES ($1, 'req-00000001', 'up', 1, 'test')`,
      [tenantId],
    );
    return userId;
  });
}

describe.each(testDrivers())('tenancy under row-level security (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let a: { id: string };
  let b: { id: string };
  let aUser: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
    a = await app.createTenant();
    b = await app.createTenant();
    aUser = await seedTenant(t, a.id, 'a');
    await seedTenant(t, b.id, 'b');
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('every table with tenant_id has RLS enabled and forced, and policies for reads and writes', async () => {
    const tables = await tenantTables(t);
    expect(tables).toEqual(
      expect.arrayContaining([
        'api_keys',
        'audit_events',
        'group_members',
        'groups',
        'memberships',
      ]),
    );
    const { rows } = await t.asOwner((q) =>
      q.query<{
        relname: string;
        relrowsecurity: boolean;
        relforcerowsecurity: boolean;
        notnull: boolean;
        policies: number;
        checked: number;
      }>(
        `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id') AS notnull,
                (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid
                   AND pg_get_expr(p.polqual, p.polrelid) LIKE '%app.tenant_id%') AS policies,
                (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid AND p.polcmd IN ('*', 'a')
                   AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%app.tenant_id%') AS checked
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relname = ANY($1)`,
        [tables],
      ),
    );
    expect(rows).toHaveLength(tables.length);
    for (const r of rows) {
      expect({
        table: r.relname,
        rls: r.relrowsecurity,
        forced: r.relforcerowsecurity,
        notnull: r.notnull,
      }).toEqual({
        table: r.relname,
        rls: true,
        forced: true,
        notnull: true,
      });
      expect(r.policies, `${r.relname} has a policy on app.tenant_id`).toBeGreaterThan(0);
      expect(
        r.checked,
        `${r.relname} has a WITH CHECK on app.tenant_id for writes`,
      ).toBeGreaterThan(0);
    }
  });

  it('the application role is not owner, not superuser and has no BYPASSRLS', async () => {
    const roles = await t.db.withTenant({ tenantId: a.id, groups: [] }, (tx) =>
      tx.query<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean; owns: number }>(
        `SELECT current_user, r.rolsuper, r.rolbypassrls,
                (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')) AS owns
           FROM pg_roles r WHERE r.rolname = current_user`,
      ),
    );
    expect(roles.rows[0]).toEqual({
      current_user: 'rampart_app',
      rolsuper: false,
      rolbypassrls: false,
      owns: 0,
    });
  });

  // Runs (and their events and approvals) show only to their caller or to approvers: tenant A's
  // context holds agents:approve so it sees all of A's rows, and still none of B's. Per-user MCP
  // connections show only to their own person: the context is A's seeded user.
  const tenantA = () => ({
    tenantId: a.id,
    userId: aUser,
    groups: [],
    permissions: new Set(['agents:approve']),
  });

  it("inside tenant A's transaction, SELECT * with no WHERE returns none of tenant B's rows, for every tenant table", async () => {
    const tables = await tenantTables(t);
    for (const table of tables) {
      const owner = await t.asOwner((q) =>
        q.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [
          b.id,
        ]),
      );
      expect(owner.rows[0]?.n, `fixture: tenant B has rows in ${table}`).toBeGreaterThan(0);
      const seen = await t.db.withTenant(tenantA(), (tx) =>
        tx.query<{ tenant_id: string }>(`SELECT * FROM ${table}`),
      );
      expect(seen.rows.length, `tenant A sees its own rows in ${table}`).toBeGreaterThan(0);
      expect(
        seen.rows.filter((r) => r.tenant_id !== a.id),
        `rows of other tenants visible in ${table}`,
      ).toEqual([]);
    }
    // The tenants table itself shows only the caller's tenant.
    const tenants = await t.db.withTenant({ tenantId: a.id, groups: [] }, (tx) =>
      tx.query<{ id: string }>('SELECT id FROM tenants'),
    );
    expect(tenants.rows.map((r) => r.id)).toEqual([a.id]);
    // Users are visible only through the caller's memberships.
    const users = await t.db.withTenant({ tenantId: a.id, groups: [] }, (tx) =>
      tx.query<{ email: string }>('SELECT email FROM users'),
    );
    expect(users.rows.map((r) => r.email)).toEqual([`a-${a.id}@example.com`]);
  });

  it("inserting or moving a row into tenant B's id fails inside tenant A's transaction, for every tenant table", async () => {
    const tables = await tenantTables(t);
    for (const table of tables) {
      // Take one of A's own rows, re-key it to B, and try to write it back.
      const attempt = t.db.withTenant(tenantA(), async (tx) => {
        const { rows } = await tx.query<Record<string, unknown>>(
          `SELECT row_to_json(x)::jsonb AS r FROM ${table} x LIMIT 1`,
        );
        const row = (rows[0] as { r: Record<string, unknown> }).r;
        const moved = { ...row, tenant_id: b.id };
        // A fresh key of the same kind (uuid, or the usage ledger's bigint identity).
        if ('id' in moved)
          moved.id = typeof moved.id === 'number' ? moved.id + 1_000_000_000 : crypto.randomUUID();
        await tx.query(
          `INSERT INTO ${table} SELECT * FROM jsonb_populate_record(NULL::${table}, $1::jsonb)`,
          [JSON.stringify(moved)],
        );
      });
      const err = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(pgErrorCode(err), `insert into ${table} with tenant B's id`).toBe('42501');
    }
    for (const table of ['memberships', 'groups', 'api_keys']) {
      const err = await t.db
        .withTenant({ tenantId: a.id, groups: [] }, (tx) =>
          tx.query(`UPDATE ${table} SET tenant_id = $1`, [b.id]),
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(pgErrorCode(err), `moving ${table} rows to tenant B`).toBe('42501');
    }
  });

  it('a connection returned to the pool carries no tenant context', async () => {
    for (let i = 0; i < 20; i++) {
      await t.db.withTenant(
        { tenantId: i % 2 ? a.id : b.id, userId: null, groups: ['legal'] },
        (tx) => tx.query('SELECT 1'),
      );
      const ctx = await t.db.withOperator((tx) =>
        tx.query<{ tenant: string | null; groups: string | null; user: string }>(
          `SELECT nullif(current_setting('app.tenant_id', true), '') AS tenant, nullif(current_setting('app.groups', true), '') AS groups, current_user AS user`,
        ),
      );
      expect(ctx.rows[0]).toEqual({ tenant: null, groups: null, user: 'rampart_app' });
      const visible = await t.db.withOperator((tx) =>
        tx.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys'),
      );
      expect(visible.rows[0]?.n).toBe(0);
    }
  });

  it('the audit log is append-only for the application role', async () => {
    for (const sql of [
      'UPDATE audit_events SET action = $1',
      'DELETE FROM audit_events WHERE action <> $1',
    ]) {
      const err = await t.db
        .withTenant({ tenantId: a.id, groups: [] }, (tx) => tx.query(sql, ['x']))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(pgErrorCode(err), sql).toBe('42501');
    }
  });
});
