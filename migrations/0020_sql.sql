-- Text-to-SQL sources (issue #24): a tenant's PostgreSQL or MySQL/MariaDB database, or the
-- embedded sample. The connection's password is AES-256-GCM envelope-encrypted like provider
-- keys (credential_* all NULL for a source without one); everything else is plain settings.
-- Same rules as every tenant table: tenant_id NOT NULL, RLS ENABLED and FORCED.
CREATE TABLE sql_sources (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  type text NOT NULL CHECK (type IN ('postgres', 'mysql', 'sample')),
  -- { host, port, database, user, ssl? }: never the password.
  connection jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(connection) = 'object'),
  credential_key_id text,
  credential_wrapped_key bytea,
  credential_iv bytea,
  credential_ciphertext bytea,
  credential_tag bytea,
  schemas text[] NOT NULL DEFAULT '{public}',
  -- NULL: every table of `schemas`; else `schema.table` names.
  tables text[],
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  model_alias text NOT NULL DEFAULT 'default',
  -- { tables: {name: text}, columns: {"table.column": text}, examples: [{question, sql}] }
  annotations jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(annotations) = 'object'),
  -- { rowFilters: [{table, group, where}], masks: [{table, column, exceptGroups}] }
  policies jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(policies) = 'object'),
  -- The introspected catalogue (tables, columns, keys, estimates, sample values).
  catalogue jsonb,
  catalogue_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  CHECK (num_nulls(credential_key_id, credential_wrapped_key, credential_iv,
                   credential_ciphertext, credential_tag) IN (0, 5))
);
ALTER TABLE sql_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE sql_sources FORCE ROW LEVEL SECURITY;
CREATE POLICY sql_sources_tenant ON sql_sources
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (name, connection, credential_key_id, credential_wrapped_key, credential_iv,
          credential_ciphertext, credential_tag, schemas, tables, description, model_alias,
          annotations, policies, catalogue, catalogue_at, updated_at)
  ON sql_sources TO rampart_app;
