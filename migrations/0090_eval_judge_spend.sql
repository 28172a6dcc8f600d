-- The sampled background judge (issue #29): what each tenant's judging cost per UTC day, so a
-- daily cap stops it. One row per tenant and day; no user data. Same rules as every tenant
-- table: tenant_id NOT NULL, RLS ENABLED and FORCED, policies on current_setting('app.tenant_id').
CREATE TABLE eval_judge_spend (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day date NOT NULL,
  cost_usd numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
  judged int NOT NULL DEFAULT 0 CHECK (judged >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, day)
);
ALTER TABLE eval_judge_spend ENABLE ROW LEVEL SECURITY;
ALTER TABLE eval_judge_spend FORCE ROW LEVEL SECURITY;
CREATE POLICY eval_judge_spend_tenant ON eval_judge_spend
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (cost_usd, judged, updated_at) ON eval_judge_spend TO rampart_app;
