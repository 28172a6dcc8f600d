-- Governance, issue #28: answer reconstruction and the outbound data policy (decision 020).
-- Same rules as every tenant table: tenant_id NOT NULL, RLS ENABLED and FORCED, policies on
-- current_setting('app.tenant_id', true) for reads and writes.

-- One record per answer of /v1/ask, /v1/sql/ask and copilot run: what produced it. request_id
-- is the x-request-id the platform gave the HTTP request (the id on its usage rows and
-- feedback), or 'run:<run id>' for a copilot run (its model calls' usage rows are
-- 'run:<run id>:<step>'). A client may choose its x-request-id: the first record under an id
-- stays (ON CONFLICT DO NOTHING), a later request reusing the id records nothing over it.
-- chunks: [{chunkId, documentId, title, score, contentHash, cited}] as retrieved and sent.
-- prompt_rendered is NULL when the tenant opted out of storing rendered prompts.
-- user_id / key_id: the asker; question, answer, prompt_rendered and citations hold tenant text.
CREATE TABLE request_records (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  request_id text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('ask', 'sql_ask', 'copilot_run')),
  user_id uuid,
  key_id uuid,
  question text NOT NULL,
  chunks jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(chunks) = 'array'),
  prompt_template text,
  prompt_version text,
  prompt_rendered jsonb,
  model_alias text,
  provider text,
  model text,
  answer jsonb NOT NULL,
  citations jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(citations) = 'array'),
  prompt_tokens bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  redactions int NOT NULL DEFAULT 0,
  timings jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(timings) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, request_id)
);
CREATE INDEX request_records_tenant_time ON request_records (tenant_id, created_at);
CREATE INDEX request_records_user ON request_records (tenant_id, user_id);
ALTER TABLE request_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE request_records FORCE ROW LEVEL SECURITY;
CREATE POLICY request_records_tenant ON request_records
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
-- Records are evidence: the application inserts and reads them, never rewrites them
-- (retention and erasure delete them).
GRANT SELECT, INSERT, DELETE ON request_records TO rampart_app;

-- A tenant's governance data policy (one row, defaults when absent):
--   store_rendered_prompts: request records keep the rendered prompt (else template id only);
--   require_pii_redaction: every provider not marked self-hosted masks PII in prompts, whatever
--     its own dataPolicy says. Read by the gateway's config snapshot, so a change NOTIFYs it.
CREATE TABLE governance_data_policy (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  store_rendered_prompts boolean NOT NULL DEFAULT true,
  require_pii_redaction boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE governance_data_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE governance_data_policy FORCE ROW LEVEL SECURITY;
CREATE POLICY governance_data_policy_tenant ON governance_data_policy
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (store_rendered_prompts, require_pii_redaction, updated_at)
  ON governance_data_policy TO rampart_app;
CREATE TRIGGER governance_data_policy_config_changed
  AFTER INSERT OR UPDATE OR DELETE ON governance_data_policy
  FOR EACH ROW EXECUTE FUNCTION gateway_config_changed();

-- Per provider: its outbound data policy ({redactPii, allowDataClasses?}) and whether it runs
-- on the tenant's own infrastructure (exempt from the tenant-wide redaction requirement).
ALTER TABLE providers ADD COLUMN data_policy jsonb NOT NULL DEFAULT '{}'
  CHECK (jsonb_typeof(data_policy) = 'object');
ALTER TABLE providers ADD COLUMN self_hosted boolean NOT NULL DEFAULT false;
GRANT UPDATE (data_policy, self_hosted) ON providers TO rampart_app;

-- Values masked in the prompt of this request before it went to the provider.
ALTER TABLE usage_events ADD COLUMN redactions int NOT NULL DEFAULT 0;

-- What is stored now for the documents (and chunks) an answer used, in the caller's tenant,
-- whatever their groups: one row per current chunk of each document (chunk_id NULL for a
-- document without chunks), plus any chunk asked for by id. A reconstruction compares what an
-- answer cited with this, and an auditor who is not in a restricted document's groups must
-- still see that it changed or went (hashes and ids only, never text).
CREATE FUNCTION rampart_chunk_state(p_document_ids uuid[], p_chunk_ids uuid[])
RETURNS TABLE (document_id uuid, chunk_id uuid, content_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT d.id, c.id, c.content_hash
    FROM documents d LEFT JOIN chunks c ON c.document_id = d.id AND c.tenant_id = d.tenant_id
   WHERE d.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
     AND d.id = ANY (p_document_ids)
  UNION
  SELECT c.document_id, c.id, c.content_hash FROM chunks c
   WHERE c.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
     AND c.id = ANY (p_chunk_ids)
$$;
REVOKE ALL ON FUNCTION rampart_chunk_state(uuid[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_chunk_state(uuid[], uuid[]) TO rampart_app;
