-- Per-user connections to external MCP servers (issue #25). A server whose auth type is
-- 'oauth-authorization-code' is per-user: each person connects their own account at the server's
-- authorization server (authorization code + PKCE S256, RFC 8707 resource, RFC 9207 iss) and a
-- run calls the server with its caller's own token. auth_meta then holds the client id (configured
-- or dynamically registered) and the credential envelope its client secret, if any.
ALTER TABLE mcp_servers DROP CONSTRAINT mcp_servers_auth_type_check;
ALTER TABLE mcp_servers ADD CONSTRAINT mcp_servers_auth_type_check CHECK (
  auth_type IN ('none', 'bearer', 'headers', 'oauth-client-credentials', 'oauth-authorization-code'));

-- An authorization started by POST /v1/mcp-servers/:id/connect and not yet completed: the state
-- (stored as its SHA-256; single use), the PKCE verifier (envelope-encrypted, jsonb), and what the
-- token request must repeat (redirect URI, resource, the authorization server's metadata as
-- discovered). Only its own user sees it (RLS on app.user_id as well as the tenant), so a
-- callback completes only in the session of the person who started it. An expired row is
-- useless; the same user's next connect deletes it.
CREATE TABLE mcp_oauth_flows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  server_id uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  state_hash text NOT NULL UNIQUE CHECK (length(state_hash) = 64),
  verifier_envelope jsonb NOT NULL,
  client_id text NOT NULL CHECK (length(client_id) <= 2000),
  redirect_uri text NOT NULL CHECK (length(redirect_uri) <= 2000),
  resource text NOT NULL CHECK (length(resource) <= 2000),
  scope text CHECK (length(scope) <= 2000),
  as_metadata jsonb NOT NULL CHECK (jsonb_typeof(as_metadata) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX mcp_oauth_flows_tenant ON mcp_oauth_flows (tenant_id, expires_at);
ALTER TABLE mcp_oauth_flows ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_oauth_flows FORCE ROW LEVEL SECURITY;
CREATE POLICY mcp_oauth_flows_owner ON mcp_oauth_flows
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND user_id = nullif(current_setting('app.user_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
              AND user_id = nullif(current_setting('app.user_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON mcp_oauth_flows TO rampart_app;

-- A person's connection to a per-user server: their tokens for that server's resource (access
-- and refresh token as one envelope-encrypted JSON, bound to tenant, server and user), when the
-- access token expires, and the authorization server they came from (its metadata, kept so a
-- refresh goes to the same token endpoint). One per server and user; only that user sees it.
CREATE TABLE mcp_user_connections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  server_id uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_envelope jsonb NOT NULL,
  client_id text NOT NULL CHECK (length(client_id) <= 2000),
  resource text NOT NULL CHECK (length(resource) <= 2000),
  scope text CHECK (length(scope) <= 2000),
  as_metadata jsonb NOT NULL CHECK (jsonb_typeof(as_metadata) = 'object'),
  -- NULL: the authorization server gave no lifetime.
  access_expires_at timestamptz,
  has_refresh_token boolean NOT NULL,
  connected_at timestamptz NOT NULL DEFAULT now(),
  refreshed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, server_id, user_id)
);
ALTER TABLE mcp_user_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_user_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY mcp_user_connections_owner ON mcp_user_connections
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND user_id = nullif(current_setting('app.user_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
              AND user_id = nullif(current_setting('app.user_id', true), '')::uuid);
-- No policy lets anyone else read or delete a person's connection, managers included: a server's
-- new address or client makes old connections unusable at use time (resource and client id are
-- compared) rather than deleted by an admin.
GRANT SELECT, INSERT, DELETE,
  UPDATE (token_envelope, client_id, resource, scope, as_metadata, access_expires_at,
          has_refresh_token, connected_at, refreshed_at, updated_at)
  ON mcp_user_connections TO rampart_app;
