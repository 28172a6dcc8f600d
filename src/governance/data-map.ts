/**
 * The personal-data map: for every table, the columns that can name a person and what export and
 * erasure do with them. `test/governance-data-map.test.ts` checks it against the catalogue, so a
 * table added with a person column and no entry here fails; the export job reads its filters
 * from here. Adding a table is one line: `table: entry({ column: 'handling' }, exportSpec)`.
 *
 * Handling on erasure:
 * - delete: the row goes (the person's own data; children go with it by foreign key)
 * - transfer: the row moves to another member (documents in transfer mode) or goes (delete mode)
 * - pseudonymise: the reference is replaced by the erasure's pseudonym (totals and other people's
 *   records stay)
 * - shred: the value is a per-person audit pseudonym whose key erasure destroys (audit chain)
 * - clear: the value is removed from a row that stays (the erasure record itself)
 * - none: the column's name suggests a person but it holds none (listed so the test knows)
 */
export type Handling = 'delete' | 'transfer' | 'pseudonymise' | 'shred' | 'clear' | 'none';

/**
 * How a table appears in an export archive. `user` is a WHERE clause selecting one person's rows,
 * with $1 = user id, $2 = e-mail address, $3 = the person's audit pseudonym (or null). Without a
 * spec the table is not exported (derived indexes, secrets, queue internals).
 */
export interface ExportSpec {
  /** The data class: the archive's `data/<class>.jsonl`. */
  dataClass: string;
  user: string | null;
  /** Columns never exported: secrets, hashes, derived vectors. */
  omit?: readonly string[];
}

export interface DataMapEntry {
  columns: Readonly<Record<string, Handling>>;
  export: ExportSpec | null;
}

function entry(columns: Record<string, Handling>, exp: ExportSpec | null = null): DataMapEntry {
  return { columns, export: exp };
}

const OWN_DOCS = `(uploaded_by_user = $1 OR position($1::text in created_by) > 0)`;
const OWN_DOC_IDS = `document_id IN (SELECT id FROM documents WHERE ${OWN_DOCS})`;
const OWN_RUN_IDS = `run_id IN (SELECT id FROM runs WHERE caller_user_id = $1)`;
const BY = (column: string): string => `position($1::text in ${column}) > 0`;

export const DATA_MAP: Readonly<Record<string, DataMapEntry>> = {
  users: entry({ id: 'delete', email: 'delete' }, { dataClass: 'profile', user: 'id = $1' }),
  memberships: entry(
    { user_id: 'delete', display_name: 'delete', scim_external_id: 'delete', scim_name: 'delete' },
    { dataClass: 'memberships', user: 'user_id = $1' },
  ),
  group_members: entry(
    { user_id: 'delete' },
    { dataClass: 'group_memberships', user: 'user_id = $1' },
  ),
  groups: entry(
    { display_name: 'none', scim_external_id: 'none' },
    { dataClass: 'groups', user: null },
  ),
  api_keys: entry(
    { user_id: 'delete', created_by: 'pseudonymise' },
    { dataClass: 'api_keys', user: 'user_id = $1', omit: ['secret_hash'] },
  ),
  key_limits: entry({}, { dataClass: 'key_limits', user: null }),
  sessions: entry(
    { user_id: 'delete', ip: 'delete', user_agent: 'delete' },
    { dataClass: 'sessions', user: 'user_id = $1', omit: ['token_hash'] },
  ),
  local_credentials: entry(
    { user_id: 'delete' },
    {
      dataClass: 'local_credentials',
      user: 'user_id = $1',
      omit: ['password_hash', 'totp_secret', 'totp_pending', 'recovery_codes'],
    },
  ),
  user_identities: entry(
    { user_id: 'delete', subject: 'delete' },
    { dataClass: 'sign_in_identities', user: 'user_id = $1' },
  ),
  token_families: entry(
    { user_id: 'delete' },
    { dataClass: 'token_families', user: 'user_id = $1' },
  ),
  refresh_tokens: entry({}, null),
  // OAuth authorization codes (migration 0100): a minute's life, kept a day to catch a replay.
  oauth_authorization_codes: entry({ user_id: 'delete' }, null),
  invitations: entry(
    { email: 'delete', display_name: 'delete', created_by: 'pseudonymise' },
    { dataClass: 'invitations', user: 'email = $2', omit: ['token_hash'] },
  ),
  scim_tokens: entry({ created_by: 'pseudonymise' }, null),
  identity_oidc: entry({ allowed_email_domains: 'none' }, null),
  identity_jwt: entry({ subject_claim: 'none' }, null),
  documents: entry(
    { created_by: 'transfer', uploaded_by_user: 'transfer', uploaded_by_key: 'transfer' },
    { dataClass: 'documents', user: OWN_DOCS },
  ),
  document_blobs: entry({}, null), // exported as the original files under files/
  chunks: entry(
    {},
    { dataClass: 'chunks', user: OWN_DOC_IDS, omit: ['tsv', 'embedding', 'lex_len'] },
  ),
  chunk_terms: entry({}, null),
  embedding_cache: entry({}, null),
  runs: entry(
    {
      caller_user_id: 'delete',
      caller_key_id: 'delete',
      caller_kind: 'delete',
      caller_role: 'delete',
      caller_groups: 'delete',
    },
    { dataClass: 'runs', user: 'caller_user_id = $1' },
  ),
  run_events: entry({}, { dataClass: 'run_events', user: OWN_RUN_IDS }),
  approvals: entry(
    { decided_by: 'pseudonymise' },
    { dataClass: 'approvals', user: `${OWN_RUN_IDS} OR ${BY('decided_by')}` },
  ),
  answer_requests: entry(
    { user_id: 'pseudonymise' },
    { dataClass: 'answer_requests', user: 'user_id = $1' },
  ),
  feedback: entry({ rated_by: 'pseudonymise' }, { dataClass: 'feedback', user: BY('rated_by') }),
  usage_events: entry({ user_id: 'pseudonymise' }, { dataClass: 'usage', user: 'user_id = $1' }),
  eval_datasets: entry(
    { created_by: 'pseudonymise' },
    { dataClass: 'eval_datasets', user: BY('created_by') },
  ),
  eval_runs: entry(
    { created_by: 'pseudonymise' },
    { dataClass: 'eval_runs', user: BY('created_by') },
  ),
  audit_events: entry(
    { actor_id: 'shred', actor_type: 'none', target_id: 'shred', details: 'shred', ip: 'shred' },
    {
      dataClass: 'audit_events',
      user: `actor_id = $3 OR target_id = $3 OR position($3 in details::text) > 0`,
    },
  ),
  audit_subject_keys: entry({ subject: 'shred' }, null),
  jobs: entry({ payload: 'delete' }, null),
  webhook_deliveries: entry({ body: 'delete' }, null),
  webhook_attempts: entry({}, null),
  subject_exports: entry(
    { subject_user_id: 'delete', requested_by: 'pseudonymise' },
    { dataClass: 'exports', user: 'subject_user_id = $1' },
  ),
  export_archives: entry({}, null),
  subject_erasures: entry(
    { user_id: 'clear', email: 'clear', requested_by: 'pseudonymise', transfer_to: 'clear' },
    null,
  ),
  // Retention and holds (migration 0065). A person under a legal hold cannot be erased (409): an
  // erasure finds no hold naming them, and pseudonymises the holds and policies they set.
  retention_policies: entry({ updated_by: 'pseudonymise' }, null),
  legal_holds: entry({ subject_id: 'delete', created_by: 'pseudonymise' }, null),
  // The operator's offboarding record (no tenant_id): member ids only while a purge runs, set to
  // NULL when it finishes; not a person's data in any tenant an erasure acts on.
  tenant_offboardings: entry({ member_ids: 'none' }, null),
  // Plans and invoices (migration 0080): closed_by is always 'operator'.
  invoices: entry({ closed_by: 'none' }, null),
  // The usage read model (migration 0085) follows the ledger's pseudonym.
  usage_rollups: entry(
    { user_id: 'pseudonymise' },
    { dataClass: 'usage_rollups', user: 'user_id = $1' },
  ),
  // A person's own MCP connections (migration 0095): tokens are never exported.
  mcp_oauth_flows: entry({ user_id: 'delete' }, null),
  // Visible only as their own user (RLS), so an export made by an owner cannot read them.
  mcp_user_connections: entry({ user_id: 'delete' }, null),
  // Answer reconstruction records (migration 0075): the person's own questions and answers.
  request_records: entry(
    { user_id: 'delete' },
    { dataClass: 'request_records', user: 'user_id = $1' },
  ),
};

/**
 * Column names that may name a person: a user id, an e-mail address, an actor, who created or
 * decided something, a sign-in subject, a network address or free-form payloads that can carry
 * any of these. The data-map test walks the catalogue with it.
 */
export const PERSON_COLUMN =
  /(^|_)(user|users|email|actor|subject|caller|member|owner|person|uploaded|transfer)(_|$)|_by$|^(display_name|scim_name|scim_external_id|ip|user_agent|target_id|details|payload|body)$/;
