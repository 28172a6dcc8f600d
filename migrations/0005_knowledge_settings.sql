-- Per-tenant knowledge-hub settings. A tenant without a row gets the defaults (PII masking on),
-- so existing tenants need no backfill. Same rules as every tenant table: tenant_id NOT NULL,
-- RLS ENABLED and FORCED, policies on current_setting('app.tenant_id', true).
CREATE TABLE knowledge_settings (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  pii_masking boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE knowledge_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY knowledge_settings_tenant ON knowledge_settings
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (pii_masking, updated_at) ON knowledge_settings TO rampart_app;
