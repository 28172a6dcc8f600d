/**
 * The stores run raw SQL (decision 001): the type checker does not see table and column names,
 * so this suite checks each store's row interface against the migrated catalogue. Every field
 * of a row type must be listed below (a compile error otherwise) with the column type it reads;
 * the test then finds that column in information_schema with that type, and NOT NULL unless the
 * field admits null. Renaming or retyping a column in a migration, or a field in a row type,
 * fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRow } from '../src/audit/store.js';
import type { McpServerRow, McpServerSecretRow } from '../src/mcp/client/servers-store.js';
import type { OAuthFlowRow, UserConnectionRow } from '../src/mcp/client/connections-store.js';
import type { PriceRow } from '../src/gateway/config/prices-store.js';
import type { KeyLimitsRow } from '../src/gateway/config/tenant-config-store.js';
import type { RouteRow } from '../src/gateway/config/routing-store.js';
import type { ProviderSecretRow } from '../src/gateway/config/providers-store.js';
import type { GroupRow } from '../src/identity/groups-store.js';
import type { ApiKeyRow } from '../src/identity/keys-store.js';
import type { OidcConfigRow } from '../src/identity/oidc-store.js';
import type { JwtTrustRow } from '../src/identity/jwt-store.js';
import type { CredentialRow, InvitationRow } from '../src/identity/local-store.js';
import type { SessionRow } from '../src/identity/sessions-store.js';
import type { SigningKeyRow } from '../src/identity/tokens-store.js';
import type { OAuthClientRow } from '../src/identity/oauth-store.js';
import type { ScimGroupRow, ScimTokenRow } from '../src/identity/scim-store.js';
import type { TenantRow } from '../src/identity/tenants-store.js';
import type { KnowledgeSettingsRow } from '../src/knowledge/settings-store.js';
import type { ChunkRow, DocumentRow } from '../src/knowledge/store.js';
import type { AgentRow, ToolSecretRow } from '../src/copilot/store.js';
import type { ApprovalRow, EventRow, RunRow } from '../src/copilot/runs-store.js';
import type { CatalogueRow, SourceRow, SourceSecretRow } from '../src/sql/sources-store.js';
import type { DatasetRow, EvalRunRow } from '../src/evals/store.js';
import type { AnswerRequestRow } from '../src/evals/feedback-store.js';
import type { AttemptRow, DeliveryRow, EndpointSecretRow } from '../src/webhooks/store.js';
import type { ErasureRow } from '../src/governance/erasure-store.js';
import type { ExportRow } from '../src/governance/exports-store.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

/** The catalogue types (information_schema udt_name) a field of TypeScript type T may read. */
type UdtFor<T> = [T] extends [Date]
  ? 'timestamptz'
  : [T] extends [Uint8Array]
    ? 'bytea'
    : [T] extends [boolean]
      ? 'bool'
      : [T] extends [readonly string[]]
        ? '_text' | '_uuid'
        : [T] extends [string]
          ? 'uuid' | 'text' | 'int8' | 'numeric'
          : [T] extends [number]
            ? 'int2' | 'int4' | 'float4' | 'float8'
            : [T] extends [string | number]
              ? 'int8' | 'numeric'
              : 'jsonb' | 'json';
/**
 * A field that admits null is written with a trailing '?': its column may be nullable. An
 * `unknown` field (JSON read as is) says nothing about null, so its column is held NOT NULL.
 */
type ColumnFor<T> = unknown extends T
  ? 'jsonb' | 'json'
  : null extends T
    ? `${UdtFor<NonNullable<T>>}?`
    : UdtFor<T>;
/** A field the SELECT computes or joins in, with why it is not a column of the table. */
interface Computed {
  computed: string;
}
type ColumnsOf<Row> = { [K in keyof Row]-?: ColumnFor<Row[K]> | Computed };

interface RowCheck {
  row: string;
  table: string;
  columns: Record<string, string | Computed>;
}

/** Declares that row type `Row` (named `row` in its store) reads the columns of `table`. */
const check =
  <Row>() =>
  (row: string, table: string, columns: ColumnsOf<Row>): RowCheck => ({ row, table, columns });

const CHECKED: RowCheck[] = [
  check<DatasetRow>()('DatasetRow', 'eval_datasets', {
    id: 'uuid',
    name: 'text',
    version: 'int4',
    cases: 'jsonb',
    content_hash: 'text',
    created_at: 'timestamptz',
  }),
  check<EvalRunRow>()('EvalRunRow', 'eval_runs', {
    id: 'uuid',
    dataset_id: 'uuid',
    passed: 'bool',
    created_by: 'text',
    result: 'jsonb',
    created_at: 'timestamptz',
  }),
  check<AnswerRequestRow>()('AnswerRequestRow', 'answer_requests', {
    request_id: 'text',
    user_id: 'uuid?',
    key_id: 'uuid?',
  }),
  check<TenantRow>()('TenantRow', 'tenants', { id: 'uuid', slug: 'text', name: 'text' }),
  check<ApiKeyRow>()('ApiKeyRow', 'api_keys', {
    id: 'uuid',
    tenant_id: 'uuid',
    user_id: 'uuid?',
    name: 'text',
    prefix: 'text',
    role: 'text',
    groups: '_text',
    created_by: 'text',
    expires_at: 'timestamptz?',
    revoked_at: 'timestamptz?',
    created_at: 'timestamptz',
  }),
  check<GroupRow>()('GroupRow', 'groups', {
    id: 'uuid',
    name: 'text',
    member_count: { computed: 'count(*) of group_members' },
    created_at: 'timestamptz',
  }),
  check<AuditRow>()('AuditRow', 'audit_events', {
    id: 'uuid',
    tenant_id: 'uuid',
    seq: 'int8',
    occurred_at: 'timestamptz',
    actor_type: 'text',
    actor_id: 'text?',
    action: 'text',
    target_type: 'text?',
    target_id: 'text?',
    outcome: 'text',
    ip: 'text?',
    request_id: 'text?',
    details: 'jsonb',
    prev_hash: 'text',
    hash: 'text',
  }),
  check<ProviderSecretRow>()('ProviderSecretRow', 'providers', {
    id: 'uuid',
    tenant_id: 'uuid',
    name: 'text',
    type: 'text',
    base_url: 'text',
    headers: 'jsonb',
    data_policy: 'jsonb',
    self_hosted: 'bool',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    credential_key_id: 'text',
    credential_wrapped_key: 'bytea',
    credential_iv: 'bytea',
    credential_ciphertext: 'bytea',
    credential_tag: 'bytea',
  }),
  check<SourceSecretRow>()('SourceSecretRow', 'sql_sources', {
    id: 'uuid',
    tenant_id: 'uuid',
    name: 'text',
    type: 'text',
    connection: 'jsonb',
    schemas: '_text',
    tables: '_text?',
    description: 'text',
    model_alias: 'text',
    annotations: 'jsonb',
    policies: 'jsonb',
    catalogue_at: 'timestamptz?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    credential_key_id: 'text?',
    credential_wrapped_key: 'bytea?',
    credential_iv: 'bytea?',
    credential_ciphertext: 'bytea?',
    credential_tag: 'bytea?',
  }),
  check<SourceRow>()('SourceRow', 'sql_sources', {
    id: 'uuid',
    tenant_id: 'uuid',
    name: 'text',
    type: 'text',
    connection: 'jsonb',
    schemas: '_text',
    tables: '_text?',
    description: 'text',
    model_alias: 'text',
    annotations: 'jsonb',
    policies: 'jsonb',
    catalogue_at: 'timestamptz?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
  }),
  check<OAuthFlowRow>()('OAuthFlowRow', 'mcp_oauth_flows', {
    id: 'uuid',
    tenant_id: 'uuid',
    server_id: 'uuid',
    user_id: 'uuid',
    verifier_envelope: 'jsonb',
    client_id: 'text',
    redirect_uri: 'text',
    resource: 'text',
    scope: 'text?',
    as_metadata: 'jsonb',
    expires_at: 'timestamptz',
  }),
  check<UserConnectionRow>()('UserConnectionRow', 'mcp_user_connections', {
    id: 'uuid',
    tenant_id: 'uuid',
    server_id: 'uuid',
    user_id: 'uuid',
    token_envelope: 'jsonb',
    client_id: 'text',
    resource: 'text',
    scope: 'text?',
    as_metadata: 'jsonb',
    access_expires_at: 'timestamptz?',
    has_refresh_token: 'bool',
    connected_at: 'timestamptz',
    refreshed_at: 'timestamptz?',
    updated_at: 'timestamptz',
  }),
  check<McpServerRow>()('McpServerRow', 'mcp_servers', {
    id: 'uuid',
    tenant_id: 'uuid',
    name: 'text',
    url: 'text',
    auth_type: 'text',
    auth_meta: 'jsonb',
    default_policy: 'text?',
    tool_policies: 'jsonb',
    tools: 'jsonb?',
    tools_at: 'timestamptz?',
    tools_expires_at: 'timestamptz?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
  }),
  check<McpServerSecretRow>()('McpServerSecretRow', 'mcp_servers', {
    id: 'uuid',
    tenant_id: 'uuid',
    name: 'text',
    url: 'text',
    auth_type: 'text',
    auth_meta: 'jsonb',
    default_policy: 'text?',
    tool_policies: 'jsonb',
    tools: 'jsonb?',
    tools_at: 'timestamptz?',
    tools_expires_at: 'timestamptz?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    credential_key_id: 'text?',
    credential_wrapped_key: 'bytea?',
    credential_iv: 'bytea?',
    credential_ciphertext: 'bytea?',
    credential_tag: 'bytea?',
  }),
  check<CatalogueRow>()('CatalogueRow', 'sql_sources', {
    catalogue: 'jsonb?',
    catalogue_at: 'timestamptz?',
  }),
  check<RouteRow>()('RouteRow', 'model_routes', {
    id: 'uuid',
    alias: 'text',
    targets: 'jsonb',
    fallbacks: 'jsonb',
    cache: 'jsonb?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
  }),
  check<PriceRow>()('PriceRow', 'model_prices', {
    model: 'text',
    input_per_mtok: 'numeric',
    output_per_mtok: 'numeric',
    cached_input_per_mtok: 'numeric',
  }),
  // Read through a LEFT JOIN from api_keys: a key without limits has null models and limits.
  check<KeyLimitsRow>()('KeyLimitsRow', 'key_limits', {
    key_id: 'uuid',
    models: '_text?',
    limits: 'jsonb?',
  }),
  check<OidcConfigRow>()('OidcConfigRow', 'identity_oidc', {
    issuer: 'text',
    client_id: 'text',
    secret_key_id: 'text',
    secret_wrapped_key: 'bytea',
    secret_iv: 'bytea',
    secret_ciphertext: 'bytea',
    secret_tag: 'bytea',
    scopes: '_text',
    groups_claim: 'text',
    role_mapping: 'jsonb',
    default_role: 'text',
    allowed_email_domains: '_text',
    updated_at: 'timestamptz',
  }),
  check<InvitationRow>()('InvitationRow', 'invitations', {
    id: 'uuid',
    email: 'text',
    role: 'text',
    display_name: 'text',
    created_by: 'text',
    created_at: 'timestamptz',
    expires_at: 'timestamptz',
    accepted_at: 'timestamptz?',
  }),
  check<CredentialRow>()('CredentialRow', 'local_credentials', {
    user_id: 'uuid',
    password_hash: 'text',
    totp_secret: 'text?',
    totp_pending: 'text?',
    recovery_codes: { computed: 'bytea[] (the catalogue check knows no bytea arrays)' },
    failed_attempts: 'int4',
    locked_until: 'timestamptz?',
  }),
  check<JwtTrustRow>()('JwtTrustRow', 'identity_jwt', {
    issuer: 'text',
    audience: 'text',
    jwks_uri: 'text',
    algorithms: '_text',
    subject_claim: 'text',
    updated_at: 'timestamptz',
  }),
  check<SigningKeyRow>()('SigningKeyRow', 'token_signing_keys', {
    kid: 'text',
    alg: 'text',
    public_jwk: 'jsonb',
    private_key: 'text',
    created_at: 'timestamptz',
    retired_at: 'timestamptz?',
    expires_at: 'timestamptz?',
  }),
  check<OAuthClientRow>()('OAuthClientRow', 'oauth_clients', {
    id: 'text',
    secret_hash: 'bytea?',
    auth_method: 'text',
    client_name: 'text?',
    client_uri: 'text?',
    redirect_uris: '_text',
    scope: 'text?',
    created_at: 'timestamptz',
  }),
  check<ScimGroupRow>()('ScimGroupRow', 'groups', {
    id: 'uuid',
    name: 'text',
    display_name: 'text?',
    scim_external_id: 'text?',
    version: 'int4',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
  }),
  check<ScimTokenRow>()('ScimTokenRow', 'scim_tokens', {
    id: 'uuid',
    prefix: 'text',
    created_by: 'text',
    created_at: 'timestamptz',
  }),
  check<SessionRow>()('SessionRow', 'sessions', {
    id: 'uuid',
    user_id: 'uuid',
    method: 'text',
    created_at: 'timestamptz',
    last_seen_at: 'timestamptz',
    expires_at: 'timestamptz',
    revoked_at: 'timestamptz?',
    ip: 'text?',
    user_agent: 'text?',
  }),
  check<KnowledgeSettingsRow>()('KnowledgeSettingsRow', 'knowledge_settings', {
    pii_masking: 'bool',
    admins_read_restricted: 'bool',
    embedding_alias: 'text?',
    answer_alias: 'text?',
  }),
  check<DocumentRow>()('DocumentRow', 'documents', {
    id: 'uuid',
    tenant_id: 'uuid',
    title: 'text',
    source_type: 'text',
    content_hash: 'text',
    tags: '_text',
    groups: '_text',
    status: 'text',
    failure_reason: 'text?',
    page_count: 'int4?',
    chunk_count: 'int4',
    bytes: 'int8',
    created_by: 'text',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
  }),
  check<ChunkRow>()('ChunkRow', 'chunks', {
    id: 'uuid',
    document_id: 'uuid',
    ordinal: 'int4',
    text: 'text',
    page_from: 'int4?',
    page_to: 'int4?',
    heading_path: '_text',
    token_count: 'int4',
  }),
  check<AgentRow>()('AgentRow', 'agents', {
    id: 'uuid',
    name: 'text',
    instructions: 'text',
    model: 'text',
    tools: 'jsonb',
    max_steps: 'int4',
    budget_usd: 'numeric?',
    output_schema: 'jsonb?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
  }),
  check<ToolSecretRow>()('ToolSecretRow', 'tools', {
    id: 'uuid',
    name: 'text',
    description: 'text',
    parameters: 'jsonb',
    request: 'jsonb',
    side_effect: 'bool',
    compensate: 'jsonb?',
    timeout_ms: 'int4',
    retries: 'int4',
    permission: 'text?',
    credential_key_id: 'text?',
    credential_wrapped_key: 'bytea?',
    credential_iv: 'bytea?',
    credential_ciphertext: 'bytea?',
    credential_tag: 'bytea?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
  }),
  check<RunRow>()('RunRow', 'runs', {
    id: 'uuid',
    agent_id: 'uuid',
    agent: 'jsonb',
    caller_kind: 'text',
    caller_user_id: 'uuid?',
    caller_key_id: 'uuid?',
    caller_role: 'text',
    caller_groups: '_text',
    status: 'text',
    input: 'jsonb',
    output: 'jsonb?',
    failure_reason: 'text?',
    cancel_requested: 'bool',
    steps: 'int4',
    prompt_tokens: 'int8',
    completion_tokens: 'int8',
    cost_usd: 'numeric',
    request_hash: 'text?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    finished_at: 'timestamptz?',
  }),
  check<EventRow>()('EventRow', 'run_events', {
    seq: 'int4',
    type: 'text',
    data: 'jsonb',
    created_at: 'timestamptz',
  }),
  check<ApprovalRow>()('ApprovalRow', 'approvals', {
    call_id: 'text',
    tool: 'text',
    arguments: 'jsonb',
    approver_role: 'text',
    distinct_approver: 'bool',
    status: 'text',
    decided_by: 'text?',
    reason: 'text?',
    created_at: 'timestamptz',
  }),
  check<EndpointSecretRow>()('EndpointSecretRow', 'webhook_endpoints', {
    id: 'uuid',
    tenant_id: 'uuid',
    url: 'text',
    events: '_text',
    description: 'text',
    enabled: 'bool',
    previous_secret_expires_at: 'timestamptz?',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    secret_envelope: 'jsonb',
    previous_secret_envelope: 'jsonb?',
  }),
  check<DeliveryRow>()('DeliveryRow', 'webhook_deliveries', {
    id: 'uuid',
    tenant_id: 'uuid',
    endpoint_id: 'uuid',
    seq: 'int8',
    event_type: 'text',
    body: 'text',
    state: 'text',
    attempts: 'int4',
    max_attempts: 'int4?',
    next_attempt_at: 'timestamptz',
    last_status: 'int4?',
    last_error: 'text?',
    created_at: 'timestamptz',
    delivered_at: 'timestamptz?',
  }),
  check<AttemptRow>()('AttemptRow', 'webhook_attempts', {
    delivery_id: 'uuid',
    attempt: 'int4',
    status_code: 'int4?',
    duration_ms: 'int4',
    error: 'text?',
    started_at: 'timestamptz',
  }),
  check<ExportRow>()('ExportRow', 'subject_exports', {
    id: 'uuid',
    tenant_id: 'uuid',
    scope: 'text',
    subject_user_id: 'uuid?',
    requested_by: 'text',
    status: 'text',
    failure_reason: 'text?',
    archive_bytes: 'int8?',
    archive_sha256: 'text?',
    files: 'int4?',
    created_at: 'timestamptz',
    completed_at: 'timestamptz?',
  }),
  check<ErasureRow>()('ErasureRow', 'subject_erasures', {
    id: 'uuid',
    tenant_id: 'uuid',
    user_id: 'uuid?',
    email: 'text?',
    pseudonym: 'uuid',
    documents: 'text',
    transfer_to: 'uuid?',
    requested_by: 'text',
    status: 'text',
    failure_reason: 'text?',
    steps: '_text',
    counts: 'jsonb',
    created_at: 'timestamptz',
    completed_at: 'timestamptz?',
  }),
];

/** Row types that are not one table's columns, each with what they read instead. */
const NOT_A_TABLE: Record<string, string> = {
  FeedbackSummaryRow: 'aggregates of answer_requests and feedback',
  ProviderRow: 'checked as part of ProviderSecretRow, which extends it',
  EndpointRow: 'checked as part of EndpointSecretRow, which extends it',
  ChainRow: 'AuditRow plus the canonical time expression the chain hashes',
  GroupMemberRow: 'a join of users and memberships',
  MemberRow: 'a join of users, memberships and group_members',
  VerifiedKeyRow: 'the result of rampart_verify_api_key (SECURITY DEFINER function)',
  VerifiedSessionRow: 'the result of rampart_verify_session (SECURITY DEFINER function)',
  FoundInvitationRow: 'the result of rampart_find_invitation (SECURITY DEFINER function)',
  TrustedIssuerRow: 'the result of rampart_find_jwt_issuer (SECURITY DEFINER function)',
  JwtMemberRow: 'the result of rampart_jwt_member (SECURITY DEFINER function)',
  FoundRefreshTokenRow: 'the result of rampart_find_refresh_token (SECURITY DEFINER function)',
  FoundCodeRow: 'the result of rampart_find_oauth_code (SECURITY DEFINER function)',
  OAuthGrantRow: 'a join of token_families, oauth_clients and refresh_tokens',
  VerifiedFamilyRow: 'the result of rampart_verify_token_family (SECURITY DEFINER function)',
  VerifiedScimTokenRow: 'the result of rampart_verify_scim_token (SECURITY DEFINER function)',
  ScimUserRow: 'a join of users and memberships',
  UsageSummaryRow: 'aggregates over usage_events',
  HitRow: 'a search result: chunks joined to documents, with a score',
  ToolRow: 'checked as part of ToolSecretRow, which extends it',
};

interface CatalogueColumn {
  table_name: string;
  column_name: string;
  udt_name: string;
  is_nullable: 'YES' | 'NO';
}

/** What a row check finds wrong against the catalogue, one line per field. */
export function mismatches(checks: RowCheck[], catalogue: CatalogueColumn[]): string[] {
  const byName = new Map(catalogue.map((c) => [`${c.table_name}.${c.column_name}`, c]));
  const found: string[] = [];
  for (const { row, table, columns } of checks) {
    for (const [field, spec] of Object.entries(columns)) {
      if (typeof spec !== 'string') continue;
      const where = `${row}.${field} → ${table}.${field}`;
      const column = byName.get(`${table}.${field}`);
      const udt = spec.replace(/\?$/, '');
      if (!column) found.push(`${where}: no such column`);
      else if (column.udt_name !== udt)
        found.push(`${where}: is ${column.udt_name}, row reads ${udt}`);
      else if (column.is_nullable === 'YES' && !spec.endsWith('?'))
        found.push(`${where}: column is nullable, the row type does not admit null`);
    }
  }
  return found;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
function storeFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return storeFiles(path);
    return /^(.+-)?store\.ts$/.test(name) ? [path] : [];
  });
}

describe('store row types', () => {
  it('lists every row interface the stores export, checked or with a reason it is not a table', () => {
    const declared = storeFiles(join(root, 'src')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^export interface (\w+Row)\b/gm)].map((m) => m[1]),
    );
    expect(declared.sort()).toEqual(
      [...CHECKED.map((c) => c.row), ...Object.keys(NOT_A_TABLE)].sort(),
    );
  });

  it('reports a renamed column, a changed type and a column that became nullable', () => {
    const catalogue: CatalogueColumn[] = [
      { table_name: 'tenants', column_name: 'id', udt_name: 'uuid', is_nullable: 'NO' },
      { table_name: 'tenants', column_name: 'tenant_slug', udt_name: 'text', is_nullable: 'NO' },
      { table_name: 'tenants', column_name: 'name', udt_name: 'varchar', is_nullable: 'NO' },
    ];
    const tenants = CHECKED.filter((c) => c.table === 'tenants');
    expect(mismatches(tenants, catalogue)).toEqual([
      'TenantRow.slug → tenants.slug: no such column',
      'TenantRow.name → tenants.name: is varchar, row reads text',
    ]);
    catalogue[0] = { ...catalogue[0]!, is_nullable: 'YES' };
    expect(mismatches(tenants, catalogue)[0]).toBe(
      'TenantRow.id → tenants.id: column is nullable, the row type does not admit null',
    );
  });
});

describe.each(testDrivers())('store row types match the migrated catalogue (%s)', (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('finds every checked field as a column of its table, with its type and nullability', async () => {
    const catalogue = await t.asOwner(async (q) => {
      const { rows } = await q.query<CatalogueColumn>(
        `SELECT table_name, column_name, udt_name, is_nullable
           FROM information_schema.columns WHERE table_schema = 'public'`,
      );
      return rows;
    });
    expect(catalogue.length).toBeGreaterThan(50);
    expect(mismatches(CHECKED, catalogue)).toEqual([]);
  });
});
