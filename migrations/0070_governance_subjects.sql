-- Data subject rights (issue #28, decision 019): per-person audit pseudonym keys, exports
-- (GDPR art. 15/20) and erasures (art. 17). Same rules as every tenant table: tenant_id NOT NULL,
-- RLS ENABLED and FORCED, policies on current_setting('app.tenant_id', true).

-- One key per person named in a tenant's audit chain. Audit events store `psn:<hmac>` instead of
-- the user id or e-mail address; reads map the pseudonym back through this table. Erasure deletes
-- the person's rows (crypto-shredding): the stored events, and so the hash chain, never change,
-- and nothing is left that maps the pseudonym to the person.
CREATE TABLE audit_subject_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('user', 'email')),
  subject text NOT NULL,
  pseudonym text NOT NULL,
  key bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, kind, subject),
  UNIQUE (tenant_id, pseudonym)
);
ALTER TABLE audit_subject_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_subject_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_subject_keys_tenant ON audit_subject_keys
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON audit_subject_keys TO rampart_app;

-- An export: of one person (subject_user_id) or of the whole tenant. The archive (a tar of JSON
-- Lines, original document files and a manifest) is stored beside it in export_archives, in the
-- database like the documents' original files (document_blobs).
CREATE TABLE subject_exports (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  scope text NOT NULL CHECK (scope IN ('user', 'tenant')),
  subject_user_id uuid,
  requested_by text NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'completed', 'failed')),
  failure_reason text,
  archive_bytes bigint,
  archive_sha256 text,
  files integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CHECK ((scope = 'user') = (subject_user_id IS NOT NULL) OR status <> 'queued')
);
CREATE INDEX subject_exports_tenant ON subject_exports (tenant_id, created_at DESC);
ALTER TABLE subject_exports ENABLE ROW LEVEL SECURITY;
ALTER TABLE subject_exports FORCE ROW LEVEL SECURITY;
CREATE POLICY subject_exports_tenant ON subject_exports
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (status, failure_reason, archive_bytes, archive_sha256, files, completed_at,
          subject_user_id, requested_by)
  ON subject_exports TO rampart_app;

CREATE TABLE export_archives (
  export_id uuid PRIMARY KEY REFERENCES subject_exports (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  content bytea NOT NULL
);
ALTER TABLE export_archives ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_archives FORCE ROW LEVEL SECURITY;
CREATE POLICY export_archives_tenant ON export_archives
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON export_archives TO rampart_app;

-- An erasure. user_id and email are held only while it runs (the job needs them to find the
-- person); completion clears both, keeping the pseudonym that replaced the person in usage rows
-- and the per-table counts. steps records the steps done, so a resumed job skips them.
CREATE TABLE subject_erasures (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid,
  email text,
  pseudonym uuid NOT NULL DEFAULT gen_random_uuid(),
  documents text NOT NULL CHECK (documents IN ('delete', 'transfer')),
  transfer_to uuid,
  requested_by text NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  failure_reason text,
  steps text[] NOT NULL DEFAULT '{}',
  counts jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);
CREATE INDEX subject_erasures_tenant ON subject_erasures (tenant_id, created_at DESC);
ALTER TABLE subject_erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE subject_erasures FORCE ROW LEVEL SECURITY;
CREATE POLICY subject_erasures_tenant ON subject_erasures
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT,
  UPDATE (user_id, email, transfer_to, requested_by, status, failure_reason, steps, counts,
          completed_at)
  ON subject_erasures TO rampart_app;

-- What the erasure job changes that the application could not before: rows naming the person
-- are deleted, or their reference replaced by the erasure's pseudonym (usage keeps its totals).
-- Every one of these still runs under the tenant's RLS policies.
GRANT DELETE ON api_keys, sessions, invitations, local_credentials, token_families, refresh_tokens,
  runs, run_events, approvals, answer_requests, feedback, jobs, webhook_deliveries,
  webhook_attempts TO rampart_app;
GRANT UPDATE (created_by) ON api_keys, invitations, eval_datasets, eval_runs TO rampart_app;
GRANT UPDATE (created_by, uploaded_by_user, uploaded_by_key) ON documents TO rampart_app;
GRANT UPDATE (user_id) ON usage_events, answer_requests TO rampart_app;

-- Deletes a global user row once no tenant holds a membership for it: the last tenant to erase
-- (or remove) the person removes the e-mail address too. Needs a tenant context like
-- rampart_ensure_user; an orphan user row grants nothing, so removing one is harmless.
CREATE FUNCTION rampart_forget_user(p_user uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_n integer;
BEGIN
  IF nullif(current_setting('app.tenant_id', true), '') IS NULL THEN
    RAISE EXCEPTION 'rampart_forget_user needs a tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  DELETE FROM users u WHERE u.id = p_user
     AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION rampart_forget_user(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_forget_user(uuid) TO rampart_app;
