-- External JWT bearer (issue #26): a tenant trusts its identity provider's access tokens. The
-- tenant of a token is the one whose trusted (issuer, audience) verified it, never a claim.
CREATE TABLE identity_jwt (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 8 AND 2000),
  audience text NOT NULL CHECK (length(audience) BETWEEN 1 AND 500),
  jwks_uri text NOT NULL CHECK (length(jwks_uri) BETWEEN 8 AND 2000),
  algorithms text[] NOT NULL,
  subject_claim text NOT NULL DEFAULT 'sub',
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (issuer, audience)
);
ALTER TABLE identity_jwt ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity_jwt FORCE ROW LEVEL SECURITY;
CREATE POLICY identity_jwt_tenant ON identity_jwt
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON identity_jwt TO rampart_app;

-- Before the tenant is known: the trust entries for one issuer (their public settings only).
CREATE FUNCTION rampart_find_jwt_issuer(p_issuer text)
RETURNS TABLE (tenant_id uuid, tenant_slug text, issuer text, audience text, jwks_uri text,
               algorithms text[], subject_claim text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT j.tenant_id, t.slug, j.issuer, j.audience, j.jwks_uri, j.algorithms, j.subject_claim
    FROM identity_jwt j JOIN tenants t ON t.id = j.tenant_id
   WHERE j.issuer = p_issuer
$$;
REVOKE ALL ON FUNCTION rampart_find_jwt_issuer(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_find_jwt_issuer(text) TO rampart_app;

-- The member a verified token's (issuer, subject) is linked to, with their role and groups.
CREATE FUNCTION rampart_jwt_member(p_tenant uuid, p_issuer text, p_subject text)
RETURNS TABLE (user_id uuid, role text, groups text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.user_id, m.role,
         ARRAY(SELECT g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id
                WHERE gm.user_id = m.user_id AND gm.tenant_id = m.tenant_id ORDER BY g.name)
    FROM user_identities i
    JOIN memberships m ON m.tenant_id = i.tenant_id AND m.user_id = i.user_id
   WHERE i.tenant_id = p_tenant AND i.issuer = p_issuer AND i.subject = p_subject
$$;
REVOKE ALL ON FUNCTION rampart_jwt_member(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_jwt_member(uuid, text, text) TO rampart_app;
