-- Plans, quotas and invoices (issue #31, decision 021).

-- A plan version: what a tenant's monthly fee includes and what overage costs. Plans are the
-- operator's catalogue, not tenant data (no tenant_id): every tenant may read them. A version is
-- never changed: editing a plan inserts its next version, so an invoice or an assignment always
-- names the exact terms it was made under, and the rows are their own history.
-- Money is integer micro-USD (1e-6 USD) in prices; quotas are integers in their meter's unit
-- (costUsdPerMonth in micro-USD).
CREATE TABLE billing_plans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  version int NOT NULL CHECK (version >= 1),
  quotas jsonb NOT NULL CHECK (jsonb_typeof(quotas) = 'object'),
  prices jsonb NOT NULL CHECK (jsonb_typeof(prices) = 'object'),
  hard_limit boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (name, version)
);
GRANT SELECT, INSERT ON billing_plans TO rampart_app;

-- Which plan a tenant is on from when: the plan of an instant is the row with the latest
-- effective_from at or before it. Rows are only added (a change is a new row), so a period's
-- invoice can prorate between the plans it saw.
CREATE TABLE tenant_plans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  plan_id uuid NOT NULL REFERENCES billing_plans (id),
  effective_from timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, effective_from)
);
ALTER TABLE tenant_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_plans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_plans_tenant ON tenant_plans
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON tenant_plans TO rampart_app;

-- Quota counters for PostgreSQL without Redis (with Redis they live in Redis, on the embedded
-- database in process): used + reserved <= quota is checked by a conditional UPDATE under the
-- row lock, so replicas sharing the database serialise on it. Units as in billing_plans.quotas.
CREATE TABLE quota_counters (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  meter text NOT NULL CHECK (length(meter) BETWEEN 1 AND 40),
  period_start date NOT NULL,
  used bigint NOT NULL DEFAULT 0,
  reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  PRIMARY KEY (tenant_id, meter, period_start)
);
ALTER TABLE quota_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY quota_counters_tenant ON quota_counters
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (used, reserved) ON quota_counters TO rampart_app;

-- The quota thresholds a tenant crossed in a period: the row is the claim that announces the
-- crossing (quota.threshold webhook, written in the same transaction) exactly once.
CREATE TABLE quota_thresholds (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  meter text NOT NULL CHECK (length(meter) BETWEEN 1 AND 40),
  period_start date NOT NULL,
  percent int NOT NULL CHECK (percent BETWEEN 1 AND 1000),
  used bigint NOT NULL,
  quota bigint NOT NULL,
  crossed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter, period_start, percent)
);
ALTER TABLE quota_thresholds ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_thresholds FORCE ROW LEVEL SECURITY;
CREATE POLICY quota_thresholds_tenant ON quota_thresholds
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON quota_thresholds TO rampart_app;

-- A closed invoice: frozen at close, never updated or deleted by the application (no UPDATE or
-- DELETE grant), one per tenant and period. `document` is the invoice exactly as previewed at
-- close (plan segments, line items, cents); the totals are columns for queries.
CREATE TABLE invoices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  period text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  currency text NOT NULL DEFAULT 'usd',
  subtotal_cents bigint NOT NULL,
  credits_cents bigint NOT NULL CHECK (credits_cents >= 0),
  total_cents bigint NOT NULL CHECK (total_cents >= 0),
  document jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
  closed_by text NOT NULL,
  closed_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, period)
);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY invoices_tenant ON invoices
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON invoices TO rampart_app;

-- Credits an operator grants a tenant for a period (goodwill, an outage): a line of the invoice.
CREATE TABLE billing_credits (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  period text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  amount_micro_usd bigint NOT NULL CHECK (amount_micro_usd > 0),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_credits_period ON billing_credits (tenant_id, period);
ALTER TABLE billing_credits ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_credits FORCE ROW LEVEL SECURITY;
CREATE POLICY billing_credits_tenant ON billing_credits
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON billing_credits TO rampart_app;

-- The tenant's document count and stored bytes (the documents and storageBytes quotas), whatever
-- groups the caller is in: SECURITY DEFINER because RLS shows a caller only its groups'
-- documents. It answers two numbers about the caller's own tenant and nothing else.
CREATE FUNCTION rampart_document_totals(OUT documents bigint, OUT bytes bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'rampart_document_totals needs a tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT count(*), coalesce(sum(d.bytes), 0)::bigint INTO documents, bytes
    FROM documents d WHERE d.tenant_id = v_tenant;
END
$$;
REVOKE ALL ON FUNCTION rampart_document_totals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_document_totals() TO rampart_app;
