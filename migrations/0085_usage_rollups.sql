-- Usage rollups (issue #31, docs/billing.md "Rollups, KPIs and export", decision 022): a daily
-- read model of the gateway's usage ledger, maintained by a queue job that reads the ledger
-- exactly once, plus the records of billing exports and of budget thresholds announced. Same
-- rules as every tenant table: tenant_id NOT NULL, RLS ENABLED and FORCED, policies on
-- current_setting('app.tenant_id', true) for reads and writes.

-- The transaction that wrote each ledger row. A row whose transaction id is below the xmin of a
-- snapshot belongs to a transaction that has ended, so it is visible to every later snapshot (or
-- was rolled back): the rollup job's cursor is such an xmin, and each run takes the rows in
-- [cursor, xmin of its own snapshot). An identity id cannot serve: ids are taken before commit,
-- so a smaller id can commit after a larger one was read. Rows written before this migration
-- get the constant 3 (the first normal transaction id), below every cursor a job will take, and
-- are counted by the first run; the column default is switched afterwards so adding the column
-- does not rewrite the table.
ALTER TABLE usage_events ADD COLUMN xact xid8 NOT NULL DEFAULT '3';
ALTER TABLE usage_events ALTER COLUMN xact SET DEFAULT pg_current_xact_id();
CREATE INDEX usage_events_tenant_xact ON usage_events (tenant_id, xact);

-- One row per tenant: the ledger rows with xact < rolled_to are in usage_rollups, the others
-- are not. The job locks this row, so two workers on the same tenant take turns.
CREATE TABLE usage_rollup_cursors (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  rolled_to xid8 NOT NULL DEFAULT '0',
  rows_rolled bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE usage_rollup_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_rollup_cursors FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_rollup_cursors_tenant ON usage_rollup_cursors
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (rolled_to, rows_rolled, updated_at)
  ON usage_rollup_cursors TO rampart_app;

-- The read model: sums of the ledger per UTC day, API key, user, feature (the ledger's endpoint),
-- alias, provider and upstream model. cost_usd is the exact sum of the ledger's numeric(20, 10)
-- costs (unpriced rows count in unpriced_requests, not in the cost); errors are rows whose
-- status was 400 or more. NULLS NOT DISTINCT: a request without a key or user is one group.
CREATE TABLE usage_rollups (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day date NOT NULL,
  key_id uuid,
  user_id uuid,
  feature text NOT NULL,
  alias text NOT NULL,
  provider text,
  target_model text,
  requests bigint NOT NULL DEFAULT 0,
  errors bigint NOT NULL DEFAULT 0,
  cache_hits bigint NOT NULL DEFAULT 0,
  prompt_tokens bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  cached_tokens bigint NOT NULL DEFAULT 0,
  cost_usd numeric(30, 10) NOT NULL DEFAULT 0,
  unpriced_requests bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT usage_rollups_group UNIQUE NULLS NOT DISTINCT
    (tenant_id, day, key_id, user_id, feature, alias, provider, target_model)
);
CREATE INDEX usage_rollups_tenant_day ON usage_rollups (tenant_id, day);
ALTER TABLE usage_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_rollups FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_rollups_tenant ON usage_rollups
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT,
  UPDATE (user_id, requests, errors, cache_hits, prompt_tokens, completion_tokens, cached_tokens, cost_usd,
          unpriced_requests, updated_at)
  ON usage_rollups TO rampart_app;

-- The Stripe customer a tenant is billed as (an operator field, set with
-- `rampart billing customer`); the export's meter events name it.
CREATE TABLE billing_customers (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  stripe_customer_id text NOT NULL CHECK (stripe_customer_id ~ '^cus_[A-Za-z0-9]{1,250}$'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE billing_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_customers FORCE ROW LEVEL SECURITY;
CREATE POLICY billing_customers_tenant ON billing_customers
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (stripe_customer_id, updated_at) ON billing_customers TO rampart_app;

-- Every export of a tenant's period: what was written (format, the number of events, the
-- sha256 of the tenant's part) and when. Re-exporting writes the same identifiers and values;
-- a digest that differs from an earlier one of the same period and format means the ledger
-- changed after the first export (late rows), which the command reports.
CREATE TABLE billing_exports (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  period text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  format text NOT NULL CHECK (format IN ('stripe', 'csv')),
  events int NOT NULL CHECK (events >= 0),
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_exports_tenant ON billing_exports (tenant_id, period, format, created_at);
ALTER TABLE billing_exports ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_exports FORCE ROW LEVEL SECURITY;
CREATE POLICY billing_exports_tenant ON billing_exports
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON billing_exports TO rampart_app;

-- Each budget threshold announced (budget.threshold webhook): at most one row, so at most one
-- event, per budget scope, period and threshold, however many replicas settle spend at once.
CREATE TABLE budget_thresholds_crossed (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  scope text NOT NULL CHECK (scope IN ('tenant', 'key')),
  scope_id uuid NOT NULL,
  period_start date NOT NULL,
  threshold int NOT NULL CHECK (threshold BETWEEN 1 AND 100),
  budget_usd numeric(20, 10) NOT NULL,
  spent_usd numeric(20, 10) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, scope, scope_id, period_start, threshold)
);
ALTER TABLE budget_thresholds_crossed ENABLE ROW LEVEL SECURITY;
ALTER TABLE budget_thresholds_crossed FORCE ROW LEVEL SECURITY;
CREATE POLICY budget_thresholds_crossed_tenant ON budget_thresholds_crossed
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON budget_thresholds_crossed TO rampart_app;

-- Tenants whose ledger has rows the rollup job has not taken yet, and that have no rollup job
-- waiting: the worker's scheduler enqueues one job for each (identifiers only, like
-- rampart_claim_jobs it acts for no tenant). p_kind is the job kind.
CREATE FUNCTION rampart_schedule_usage_rollups(p_kind text) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH due AS (
    SELECT t.id FROM tenants t
     WHERE EXISTS (
             SELECT 1 FROM usage_events u
              WHERE u.tenant_id = t.id
                AND u.xact >= coalesce((SELECT c.rolled_to FROM usage_rollup_cursors c
                                         WHERE c.tenant_id = t.id), '0'::xid8))
       AND NOT EXISTS (
             SELECT 1 FROM jobs j
              WHERE j.tenant_id = t.id AND j.kind = p_kind AND j.state IN ('queued', 'running'))
  ), queued AS (
    INSERT INTO jobs (tenant_id, kind, payload, max_attempts)
    SELECT id, p_kind, '{}'::jsonb, 5 FROM due RETURNING 1
  )
  SELECT count(*)::int FROM queued
$$;
REVOKE ALL ON FUNCTION rampart_schedule_usage_rollups(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_schedule_usage_rollups(text) TO rampart_app;

-- Tenants with usage or rollups, for the operator commands (reconcile, export) over every tenant.
CREATE FUNCTION rampart_usage_tenants() RETURNS TABLE (id uuid, slug text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT t.id, t.slug FROM tenants t
   WHERE EXISTS (SELECT 1 FROM usage_events u WHERE u.tenant_id = t.id)
      OR EXISTS (SELECT 1 FROM usage_rollups r WHERE r.tenant_id = t.id)
   ORDER BY t.slug
$$;
REVOKE ALL ON FUNCTION rampart_usage_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_usage_tenants() TO rampart_app;
