-- People sign in (issue #26): a tenant's OIDC provider, the (issuer, subject) each person signs
-- in as, and server-side sessions. Every table is tenant data under the same policies as 0001.

-- One OIDC provider per tenant. The client secret is envelope-encrypted (AES-256-GCM under the
-- master key, context "oidc:<tenant>"), exactly as gateway provider keys are; never returned.
CREATE TABLE identity_oidc (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 8 AND 2000),
  client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 500),
  secret_key_id text NOT NULL,
  secret_wrapped_key bytea NOT NULL,
  secret_iv bytea NOT NULL,
  secret_ciphertext bytea NOT NULL,
  secret_tag bytea NOT NULL,
  scopes text[] NOT NULL,
  groups_claim text NOT NULL,
  role_mapping jsonb NOT NULL DEFAULT '{}',
  default_role text NOT NULL CHECK (default_role IN ('admin', 'member', 'viewer')),
  allowed_email_domains text[] NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE identity_oidc ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity_oidc FORCE ROW LEVEL SECURITY;
CREATE POLICY identity_oidc_tenant ON identity_oidc
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON identity_oidc TO rampart_app;

-- Who a person is at their identity provider: just-in-time provisioning finds the member by
-- (issuer, subject), never by an e-mail address the IdP may let them change.
CREATE TABLE user_identities (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  issuer text NOT NULL,
  subject text NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, issuer, subject),
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX user_identities_user ON user_identities (tenant_id, user_id);
ALTER TABLE user_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY user_identities_tenant ON user_identities
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (last_login_at), DELETE ON user_identities TO rampart_app;

-- Browser sessions. Only a keyed hash of the opaque cookie value is stored. A session ends at
-- expires_at (absolute lifetime) or when idle past idle_timeout_s since last_seen_at.
CREATE TABLE sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  token_hash bytea NOT NULL UNIQUE,
  method text NOT NULL CHECK (method IN ('oidc', 'password')),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  idle_timeout_s integer NOT NULL CHECK (idle_timeout_s > 0),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  ip text,
  user_agent text,
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id, created_at DESC);
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY sessions_tenant ON sessions
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (last_seen_at, revoked_at) ON sessions TO rampart_app;

-- Session verification happens before the tenant is known (the cookie is all there is): this
-- narrow function returns the one session whose keyed hash matches, with the member's current
-- role and groups, and nothing else. The table keeps its RLS.
CREATE FUNCTION rampart_verify_session(p_hash bytea)
RETURNS TABLE (session_id uuid, tenant_id uuid, tenant_slug text, user_id uuid, role text,
               groups text[], last_seen_at timestamptz, idle_timeout_s integer,
               expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT s.id, s.tenant_id, t.slug, s.user_id, m.role,
         ARRAY(SELECT g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id
                WHERE gm.user_id = s.user_id AND gm.tenant_id = s.tenant_id ORDER BY g.name),
         s.last_seen_at, s.idle_timeout_s, s.expires_at, s.revoked_at
    FROM sessions s JOIN tenants t ON t.id = s.tenant_id
    JOIN memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id
   WHERE s.token_hash = p_hash
$$;
REVOKE ALL ON FUNCTION rampart_verify_session(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_verify_session(bytea) TO rampart_app;
