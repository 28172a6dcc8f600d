-- Tokens for apps (issue #26): Rampart's own access tokens (JWT, ES256) and rotating refresh
-- tokens, and the deactivation of members (SCIM `active`).

-- Signing keys are the platform's, not a tenant's: no tenant_id. The private key is
-- envelope-encrypted (JSON of the envelope, context "token-signing:<kid>"); the public JWK is
-- published at /.well-known/jwks.json until expires_at. A key signs until retired_at.
CREATE TABLE token_signing_keys (
  kid text PRIMARY KEY CHECK (length(kid) BETWEEN 8 AND 100),
  alg text NOT NULL CHECK (alg = 'ES256'),
  public_jwk jsonb NOT NULL,
  private_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz,
  expires_at timestamptz
);
GRANT SELECT, INSERT, UPDATE (retired_at, expires_at) ON token_signing_keys TO rampart_app;

-- A refresh-token family: one grant (from a session, or later another grant type) and every
-- refresh token rotated from it. Revoking the family ends every token of it at once.
CREATE TABLE token_families (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  session_id uuid REFERENCES sessions (id) ON DELETE SET NULL,
  audience text NOT NULL CHECK (length(audience) BETWEEN 1 AND 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text,
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX token_families_user ON token_families (tenant_id, user_id);
CREATE INDEX token_families_session ON token_families (session_id);
ALTER TABLE token_families ENABLE ROW LEVEL SECURITY;
ALTER TABLE token_families FORCE ROW LEVEL SECURITY;
CREATE POLICY token_families_tenant ON token_families
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (revoked_at, revoked_reason) ON token_families TO rampart_app;

-- Only a keyed hash of each refresh token is stored. rotated_at is set when it is exchanged.
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  family_id uuid NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  rotated_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_tenant ON refresh_tokens
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (rotated_at) ON refresh_tokens TO rampart_app;

-- A member may be deactivated (SCIM active=false): kept, but no credential of theirs works.
ALTER TABLE memberships ADD COLUMN active boolean NOT NULL DEFAULT true;
GRANT UPDATE (active) ON memberships TO rampart_app;

-- Before the tenant is known (the refresh token is all there is): the one token whose keyed
-- hash matches, with its family's state and whether the member is still active.
CREATE FUNCTION rampart_find_refresh_token(p_hash bytea)
RETURNS TABLE (tenant_id uuid, family_id uuid, user_id uuid, audience text,
               expires_at timestamptz, rotated_at timestamptz, family_expires_at timestamptz,
               family_revoked_at timestamptz, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT r.tenant_id, r.family_id, f.user_id, f.audience, r.expires_at, r.rotated_at,
         f.expires_at, f.revoked_at, m.active
    FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
    JOIN memberships m ON m.tenant_id = f.tenant_id AND m.user_id = f.user_id
   WHERE r.token_hash = p_hash
$$;
REVOKE ALL ON FUNCTION rampart_find_refresh_token(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_find_refresh_token(bytea) TO rampart_app;

-- Verifying an access token (signature checked first): the family it was issued in, with the
-- member's current role and groups. Nothing is returned for a deactivated member.
CREATE FUNCTION rampart_verify_token_family(p_family uuid)
RETURNS TABLE (tenant_id uuid, tenant_slug text, user_id uuid, session_id uuid, role text,
               groups text[], audience text, expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT f.tenant_id, t.slug, f.user_id, f.session_id, m.role,
         ARRAY(SELECT g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id
                WHERE gm.user_id = f.user_id AND gm.tenant_id = f.tenant_id ORDER BY g.name),
         f.audience, f.expires_at, f.revoked_at
    FROM token_families f JOIN tenants t ON t.id = f.tenant_id
    JOIN memberships m ON m.tenant_id = f.tenant_id AND m.user_id = f.user_id
   WHERE f.id = p_family AND m.active
$$;
REVOKE ALL ON FUNCTION rampart_verify_token_family(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_verify_token_family(uuid) TO rampart_app;

-- Sessions and IdP tokens of a deactivated member no longer verify.
CREATE OR REPLACE FUNCTION rampart_verify_session(p_hash bytea)
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
   WHERE s.token_hash = p_hash AND m.active
$$;

CREATE OR REPLACE FUNCTION rampart_jwt_member(p_tenant uuid, p_issuer text, p_subject text)
RETURNS TABLE (user_id uuid, role text, groups text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.user_id, m.role,
         ARRAY(SELECT g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id
                WHERE gm.user_id = m.user_id AND gm.tenant_id = m.tenant_id ORDER BY g.name)
    FROM user_identities i
    JOIN memberships m ON m.tenant_id = i.tenant_id AND m.user_id = i.user_id
   WHERE i.tenant_id = p_tenant AND i.issuer = p_issuer AND i.subject = p_subject AND m.active
$$;
