-- Gateway hot path: every instance caches each tenant's gateway configuration (routes,
-- providers, prices, tenant and key limits). A change to any of those tables NOTIFYs the
-- tenant's id on 'rampart_gateway_config' so every instance evicts it at once; the triggers
-- fire for every writer (API, migrations, an operator's psql), not only for the code paths
-- that remember to. NOTIFY is transactional: it is delivered on commit, never on rollback,
-- and identical payloads within one transaction are delivered once.

CREATE FUNCTION gateway_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('rampart_gateway_config', OLD.tenant_id::text);
  ELSE
    PERFORM pg_notify('rampart_gateway_config', NEW.tenant_id::text);
    IF TG_OP = 'UPDATE' AND NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
      PERFORM pg_notify('rampart_gateway_config', OLD.tenant_id::text);
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER model_routes_config_changed AFTER INSERT OR UPDATE OR DELETE ON model_routes
  FOR EACH ROW EXECUTE FUNCTION gateway_config_changed();
CREATE TRIGGER providers_config_changed AFTER INSERT OR UPDATE OR DELETE ON providers
  FOR EACH ROW EXECUTE FUNCTION gateway_config_changed();
CREATE TRIGGER model_prices_config_changed AFTER INSERT OR UPDATE OR DELETE ON model_prices
  FOR EACH ROW EXECUTE FUNCTION gateway_config_changed();
CREATE TRIGGER tenant_limits_config_changed AFTER INSERT OR UPDATE OR DELETE ON tenant_limits
  FOR EACH ROW EXECUTE FUNCTION gateway_config_changed();
CREATE TRIGGER key_limits_config_changed AFTER INSERT OR UPDATE OR DELETE ON key_limits
  FOR EACH ROW EXECUTE FUNCTION gateway_config_changed();

-- Budget reservations of the Postgres budget path (no Redis, or Redis down with fail-open):
-- one row per in-flight request and scope. A replica that dies between reserving and settling
-- leaves its row behind; any replica reserving in the same scope deletes the rows older than
-- GATEWAY_BUDGET_RESERVATION_TTL_MS and gives their amount back to budget_spend.reserved_usd.
-- Deleting the row is the claim: a settle and a reclaim race for it, and only the one whose
-- DELETE returns it subtracts the amount.
CREATE TABLE budget_reservations (
  id uuid NOT NULL,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  scope text NOT NULL CHECK (scope IN ('tenant', 'key')),
  scope_id uuid NOT NULL,
  period_start date NOT NULL,
  amount_usd numeric(20, 10) NOT NULL CHECK (amount_usd >= 0),
  reserved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, scope, scope_id, period_start, id)
);
CREATE INDEX budget_reservations_age
  ON budget_reservations (tenant_id, scope, scope_id, period_start, reserved_at);
ALTER TABLE budget_reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE budget_reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY budget_reservations_tenant ON budget_reservations
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON budget_reservations TO rampart_app;
