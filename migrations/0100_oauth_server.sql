-- Rampart as an OAuth 2.1 authorization server for its own MCP resource (issue #25, decision
-- 026): dynamically registered clients, single-use authorization codes, and refresh-token
-- families bound to the client they were issued to.

-- Clients register themselves (RFC 7591) before anyone signs in: they belong to no tenant, so
-- the table has no tenant_id and no RLS (like token_signing_keys). A confidential client's secret
-- is stored only as a keyed hash; a public client (auth_method 'none') has none.
CREATE TABLE oauth_clients (
  id text PRIMARY KEY CHECK (id ~ '^rmc_[A-Za-z0-9_-]{22}$'),
  secret_hash bytea,
  auth_method text NOT NULL
    CHECK (auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
  client_name text CHECK (length(client_name) BETWEEN 1 AND 200),
  client_uri text CHECK (length(client_uri) BETWEEN 1 AND 2000),
  redirect_uris text[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10),
  scope text CHECK (length(scope) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((auth_method = 'none') = (secret_hash IS NULL))
);
GRANT SELECT, INSERT ON oauth_clients TO rampart_app;

-- A refresh-token family issued to an OAuth client is usable only by that client.
ALTER TABLE token_families ADD COLUMN client_id text REFERENCES oauth_clients (id) ON DELETE CASCADE;

-- An authorization code (RFC 6749 §4.1): only its keyed hash is stored, bound to the client, the
-- exact redirect URI, the PKCE S256 challenge, the resource, the person and their tenant. used_at
-- is set when it is redeemed; family_id names what it issued, which a second redemption revokes.
CREATE TABLE oauth_authorization_codes (
  code_hash bytea PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  client_id text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
  redirect_uri text NOT NULL CHECK (length(redirect_uri) BETWEEN 1 AND 2000),
  code_challenge text NOT NULL CHECK (code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
  resource text NOT NULL CHECK (length(resource) BETWEEN 1 AND 500),
  scope text NOT NULL CHECK (length(scope) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  family_id uuid REFERENCES token_families (id) ON DELETE SET NULL,
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX oauth_authorization_codes_expiry ON oauth_authorization_codes (tenant_id, expires_at);
ALTER TABLE oauth_authorization_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_authorization_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY oauth_authorization_codes_tenant ON oauth_authorization_codes
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE, UPDATE (used_at, family_id) ON oauth_authorization_codes TO rampart_app;

-- Before the tenant is known (the code is all the token request has): the one code whose keyed
-- hash matches, with whether its member is still active.
CREATE FUNCTION rampart_find_oauth_code(p_hash bytea)
RETURNS TABLE (tenant_id uuid, user_id uuid, client_id text, redirect_uri text,
               code_challenge text, resource text, scope text, expires_at timestamptz,
               used_at timestamptz, family_id uuid, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.tenant_id, c.user_id, c.client_id, c.redirect_uri, c.code_challenge, c.resource,
         c.scope, c.expires_at, c.used_at, c.family_id, m.active
    FROM oauth_authorization_codes c
    JOIN memberships m ON m.tenant_id = c.tenant_id AND m.user_id = c.user_id
   WHERE c.code_hash = p_hash
$$;
REVOKE ALL ON FUNCTION rampart_find_oauth_code(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_find_oauth_code(bytea) TO rampart_app;

-- The refresh-token lookup now says which client its family was issued to (NULL: a session grant).
DROP FUNCTION rampart_find_refresh_token(bytea);
CREATE FUNCTION rampart_find_refresh_token(p_hash bytea)
RETURNS TABLE (tenant_id uuid, family_id uuid, user_id uuid, audience text,
               expires_at timestamptz, rotated_at timestamptz, family_expires_at timestamptz,
               family_revoked_at timestamptz, active boolean, client_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT r.tenant_id, r.family_id, f.user_id, f.audience, r.expires_at, r.rotated_at,
         f.expires_at, f.revoked_at, m.active, f.client_id
    FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
    JOIN memberships m ON m.tenant_id = f.tenant_id AND m.user_id = f.user_id
   WHERE r.token_hash = p_hash
$$;
REVOKE ALL ON FUNCTION rampart_find_refresh_token(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_find_refresh_token(bytea) TO rampart_app;
