-- Gateway limits and budgets: per-key model allow-lists and limits, tenant-wide limits, and the
-- authoritative spend per budget period. Same rules as every tenant table: tenant_id NOT NULL,
-- RLS ENABLED and FORCED, policies on current_setting('app.tenant_id', true).

-- limits: { rpm?, tpm?, concurrency?, budgetUsd?, budgetPeriod? }; models NULL = every alias.
CREATE TABLE key_limits (
  key_id uuid PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  models text[],
  limits jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(limits) = 'object'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX key_limits_tenant ON key_limits (tenant_id);
ALTER TABLE key_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE key_limits FORCE ROW LEVEL SECURITY;
CREATE POLICY key_limits_tenant ON key_limits
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (models, limits, updated_at), DELETE ON key_limits TO rampart_app;

CREATE TABLE tenant_limits (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  limits jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(limits) = 'object'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenant_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_limits FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_limits_tenant ON tenant_limits
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (limits, updated_at) ON tenant_limits TO rampart_app;

-- One row per budget scope and period. A request reserves its maximum cost with a conditional
-- UPDATE (spent + reserved + cost <= budget) under the row lock, so concurrent requests on any
-- number of replicas can never together commit to more than the budget; settling moves the
-- actual cost (never more than the reservation) from reserved to spent.
CREATE TABLE budget_spend (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  scope text NOT NULL CHECK (scope IN ('tenant', 'key')),
  -- the key id for scope 'key', the tenant id for scope 'tenant'
  scope_id uuid NOT NULL,
  period_start date NOT NULL,
  spent_usd numeric(20, 10) NOT NULL DEFAULT 0 CHECK (spent_usd >= 0),
  reserved_usd numeric(20, 10) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
  PRIMARY KEY (tenant_id, scope, scope_id, period_start)
);
ALTER TABLE budget_spend ENABLE ROW LEVEL SECURITY;
ALTER TABLE budget_spend FORCE ROW LEVEL SECURITY;
CREATE POLICY budget_spend_tenant ON budget_spend
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (spent_usd, reserved_usd) ON budget_spend TO rampart_app;
