-- External MCP servers a tenant attaches (issue #25): their tools become `mcp.<name>.<tool>` in
-- the copilot's registry. The credential (a bearer token, header values or an OAuth client
-- secret, as JSON) is AES-256-GCM envelope-encrypted like sql_sources' passwords (credential_*
-- all NULL for a server without one); auth_meta holds only what is not secret (header names,
-- the client id, token URL and scope). tools is the last listing, used until tools_expires_at.
-- Same rules as every tenant table: tenant_id NOT NULL, RLS ENABLED and FORCED.
CREATE TABLE mcp_servers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
  url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
  auth_type text NOT NULL CHECK (auth_type IN ('none', 'bearer', 'headers', 'oauth-client-credentials')),
  auth_meta jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(auth_meta) = 'object'),
  credential_key_id text,
  credential_wrapped_key bytea,
  credential_iv bytea,
  credential_ciphertext bytea,
  credential_tag bytea,
  -- NULL: each tool's policy comes from its annotations (readOnlyHint: always; else ask).
  default_policy text CHECK (default_policy IN ('always', 'ask', 'deny')),
  -- { "<tool>": "always" | "ask" | "deny" }: the tenant's explicit choices, which always win.
  tool_policies jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(tool_policies) = 'object'),
  tools jsonb,
  tools_at timestamptz,
  tools_expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  CHECK (num_nulls(credential_key_id, credential_wrapped_key, credential_iv,
                   credential_ciphertext, credential_tag) IN (0, 5))
);
ALTER TABLE mcp_servers ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_servers FORCE ROW LEVEL SECURITY;
CREATE POLICY mcp_servers_tenant ON mcp_servers
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (name, url, auth_type, auth_meta, credential_key_id, credential_wrapped_key,
          credential_iv, credential_ciphertext, credential_tag, default_policy, tool_policies,
          tools, tools_at, tools_expires_at, updated_at)
  ON mcp_servers TO rampart_app;
