-- Copilot: agents, the tenant's HTTP actions (tools), runs, their write-ahead event log and
-- approvals. Same rules as every tenant table: tenant_id NOT NULL, RLS ENABLED and FORCED,
-- policies on current_setting('app.tenant_id', true) for reads and writes.
--
-- Who sees a run (docs/copilot.md): its caller (the same user, or for a key with no user the
-- same key) and whoever holds agents:approve in the tenant. The policy on runs says so, and
-- the policies on run_events and approvals follow their run, so a member cannot read, stream,
-- approve or cancel another member's run even if the application forgot to check.

CREATE TABLE agents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  instructions text NOT NULL,
  model text NOT NULL CHECK (length(model) BETWEEN 1 AND 128),
  -- [{ "name", "policy": always|ask|deny, "approverRole"?, "distinctApprover"? }]
  tools jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tools) = 'array'),
  max_steps int NOT NULL DEFAULT 12 CHECK (max_steps BETWEEN 1 AND 200),
  budget_usd numeric(14, 6) CHECK (budget_usd >= 0),
  output_schema jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY agents_tenant ON agents
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (name, instructions, model, tools, max_steps, budget_usd, output_schema, updated_at)
  ON agents TO rampart_app;

-- A tenant-defined HTTP action. The credential is an AES-256-GCM envelope (like providers'),
-- bound to the row by its context, never returned.
CREATE TABLE tools (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  description text NOT NULL,
  parameters jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object'),
  -- { "method", "url" (template), "headers"? (templates; may place {credential}) , "body"? }
  request jsonb NOT NULL CHECK (jsonb_typeof(request) = 'object'),
  side_effect boolean NOT NULL DEFAULT true,
  compensate jsonb CHECK (compensate IS NULL OR jsonb_typeof(compensate) = 'object'),
  timeout_ms int NOT NULL DEFAULT 10000 CHECK (timeout_ms BETWEEN 100 AND 300000),
  retries int NOT NULL DEFAULT 0 CHECK (retries BETWEEN 0 AND 10),
  -- A catalogue permission the run's caller must hold for the call to be made.
  permission text,
  credential_key_id text,
  credential_wrapped_key bytea,
  credential_iv bytea,
  credential_ciphertext bytea,
  credential_tag bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
ALTER TABLE tools ENABLE ROW LEVEL SECURITY;
ALTER TABLE tools FORCE ROW LEVEL SECURITY;
CREATE POLICY tools_tenant ON tools
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (description, parameters, request, side_effect, compensate, timeout_ms, retries,
          permission, credential_key_id, credential_wrapped_key, credential_iv,
          credential_ciphertext, credential_tag, updated_at)
  ON tools TO rampart_app;

-- A run: the agent's definition as it was when the run started (edits do not change a running
-- run), its caller (the principal it runs as, from the verified credential that created it)
-- and its state. The loop's lease (lease_job, lease_until) lets one job drive it at a time.
CREATE TABLE runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  agent_id uuid NOT NULL,
  agent jsonb NOT NULL CHECK (jsonb_typeof(agent) = 'object'),
  caller_kind text NOT NULL CHECK (caller_kind IN ('api_key', 'user')),
  caller_user_id uuid,
  caller_key_id uuid,
  caller_role text NOT NULL,
  caller_groups text[] NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'awaiting_approval', 'succeeded', 'failed', 'cancelled')),
  input jsonb NOT NULL CHECK (jsonb_typeof(input) = 'array'),
  output jsonb,
  failure_reason text,
  cancel_requested boolean NOT NULL DEFAULT false,
  steps int NOT NULL DEFAULT 0,
  prompt_tokens bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
  -- The caller's Idempotency-Key (scoped to the caller) and a digest of the request body.
  idempotency_scope text,
  idempotency_key text,
  request_hash text,
  lease_job uuid,
  lease_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  UNIQUE (tenant_id, idempotency_scope, idempotency_key)
);
CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX runs_tenant_active ON runs (tenant_id) WHERE status IN ('queued', 'running');
ALTER TABLE runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE runs FORCE ROW LEVEL SECURITY;
CREATE FUNCTION app_sees_run(user_id uuid, key_id uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT (user_id IS NOT NULL AND user_id::text = current_setting('app.user_id', true))
      OR (user_id IS NULL AND key_id IS NOT NULL AND key_id::text = current_setting('app.key_id', true))
      OR app_has_permission('agents:approve')
$$;
CREATE POLICY runs_tenant ON runs
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND app_sees_run(caller_user_id, caller_key_id))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
              AND app_sees_run(caller_user_id, caller_key_id));
GRANT SELECT, INSERT,
  UPDATE (status, output, failure_reason, cancel_requested, steps, prompt_tokens,
          completion_tokens, cost_usd, lease_job, lease_until, updated_at, finished_at)
  ON runs TO rampart_app;

-- The run's write-ahead log: every step is recorded here before (for a tool call) or as it
-- happens; a resumed loop rebuilds its state from it. Append-only for the application.
CREATE TABLE run_events (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq int NOT NULL CHECK (seq >= 1),
  type text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, seq)
);
ALTER TABLE run_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_events FORCE ROW LEVEL SECURITY;
CREATE POLICY run_events_tenant ON run_events
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.id = run_events.run_id))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
              AND EXISTS (SELECT 1 FROM runs r WHERE r.id = run_events.run_id));
GRANT SELECT, INSERT ON run_events TO rampart_app;

-- A tool call waiting for (or decided by) a person.
CREATE TABLE approvals (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  call_id text NOT NULL CHECK (length(call_id) BETWEEN 1 AND 200),
  tool text NOT NULL,
  arguments jsonb NOT NULL,
  approver_role text NOT NULL,
  distinct_approver boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
  decided_by text,
  reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz,
  PRIMARY KEY (run_id, call_id)
);
CREATE INDEX approvals_pending ON approvals (tenant_id) WHERE status = 'pending';
ALTER TABLE approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE approvals FORCE ROW LEVEL SECURITY;
CREATE POLICY approvals_tenant ON approvals
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND EXISTS (SELECT 1 FROM runs r WHERE r.id = approvals.run_id))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
              AND EXISTS (SELECT 1 FROM runs r WHERE r.id = approvals.run_id));
GRANT SELECT, INSERT, UPDATE (status, decided_by, reason, decided_at) ON approvals TO rampart_app;

-- Pending approvals and active runs across tenants, for the gauges (counts only, no tenant data).
CREATE FUNCTION rampart_copilot_counts() RETURNS TABLE (what text, n bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT 'approvals_pending', count(*) FROM approvals WHERE status = 'pending'
  UNION ALL
  SELECT 'runs_' || status, count(*) FROM runs WHERE status IN ('queued', 'running', 'awaiting_approval') GROUP BY status
$$;
REVOKE ALL ON FUNCTION rampart_copilot_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_copilot_counts() TO rampart_app;

-- The bulkhead counts every run of the caller's tenant in progress, including those the caller
-- may not see (another member's): a count for the tenant in the transaction's context only.
CREATE FUNCTION rampart_copilot_active_runs() RETURNS int
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT count(*)::int FROM runs
   WHERE tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
     AND status IN ('queued', 'running')
$$;
REVOKE ALL ON FUNCTION rampart_copilot_active_runs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_copilot_active_runs() TO rampart_app;
