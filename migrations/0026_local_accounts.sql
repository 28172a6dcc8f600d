-- Local accounts (issue #26): invitations, passwords with optional TOTP, and the tenant's switch
-- for them. Tenant data under the same policies as 0001.

CREATE TABLE identity_settings (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  local_accounts_enabled boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE identity_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY identity_settings_tenant ON identity_settings
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (local_accounts_enabled, updated_at) ON identity_settings TO rampart_app;

-- An invitation holds only a keyed hash of its one-time token.
CREATE TABLE invitations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  display_name text NOT NULL DEFAULT '',
  token_hash bytea NOT NULL UNIQUE,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at DESC);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_tenant ON invitations
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (accepted_at) ON invitations TO rampart_app;

-- A member's password (argon2id, PHC string) and second factor. The TOTP secret is
-- envelope-encrypted (JSON of the envelope, context "totp:<tenant>:<user>"); recovery codes are
-- keyed hashes, each removed when used.
CREATE TABLE local_credentials (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  password_hash text NOT NULL,
  totp_secret text,
  totp_pending text,
  recovery_codes bytea[] NOT NULL DEFAULT '{}',
  failed_attempts integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  password_changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
ALTER TABLE local_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE local_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY local_credentials_tenant ON local_credentials
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (password_hash, totp_secret, totp_pending, recovery_codes,
  failed_attempts, locked_until, password_changed_at) ON local_credentials TO rampart_app;

-- Accepting an invitation happens before any tenant is known (the token is all there is): this
-- narrow function returns the one invitation whose keyed hash matches, and nothing else.
CREATE FUNCTION rampart_find_invitation(p_hash bytea)
RETURNS TABLE (id uuid, tenant_id uuid, tenant_slug text, email text, role text,
               display_name text, expires_at timestamptz, accepted_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT i.id, i.tenant_id, t.slug, i.email, i.role, i.display_name, i.expires_at, i.accepted_at
    FROM invitations i JOIN tenants t ON t.id = i.tenant_id
   WHERE i.token_hash = p_hash
$$;
REVOKE ALL ON FUNCTION rampart_find_invitation(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_find_invitation(bytea) TO rampart_app;
