-- Identity, tenancy and audit. Runs as the owning role.
-- Every table holding tenant data has tenant_id NOT NULL, RLS ENABLED and FORCED, and
-- policies on current_setting('app.tenant_id', true) for reads and writes (WITH CHECK).

DO $$
BEGIN
  -- The owner is also subject to the FORCEd policies, so the narrow SECURITY DEFINER functions
  -- below (key verification, tenant creation) need an owner that bypasses RLS.
  IF NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'migrations must run as a superuser or a BYPASSRLS owner role (connected as %)', current_user;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rampart_app') THEN
    CREATE ROLE rampart_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- another database of the same cluster created it concurrently
END
$$;

GRANT USAGE ON SCHEMA public TO rampart_app;
GRANT SELECT ON rampart_migrations TO rampart_app;

-- The principal's groups, as set by withTenant: a JSON array of group names.
CREATE FUNCTION app_groups() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(
    array(SELECT jsonb_array_elements_text(nullif(current_setting('app.groups', true), '')::jsonb)),
    '{}'::text[])
$$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9_][a-z0-9_-]{1,62}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_self ON tenants
  USING (id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, UPDATE (name) ON tenants TO rampart_app;

-- Unattributable security events (an unknown credential) are chained under this reserved tenant.
INSERT INTO tenants (id, slug, name) VALUES ('00000000-0000-0000-0000-000000000000', '_system', 'System');

-- People. A user is global (one identity, possibly several tenants); a tenant sees a user only
-- through its own membership.
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
  display_name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_via_membership ON users
  USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id
                 AND m.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid));
GRANT SELECT ON users TO rampart_app;

-- Finds or creates the global user for an e-mail address. The only way the application role
-- creates users; it reveals nothing about other tenants (the id alone grants nothing).
CREATE FUNCTION rampart_ensure_user(p_email text, p_display_name text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_id uuid;
BEGIN
  IF nullif(current_setting('app.tenant_id', true), '') IS NULL THEN
    RAISE EXCEPTION 'rampart_ensure_user needs a tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO users (email, display_name) VALUES (lower(p_email), coalesce(p_display_name, ''))
  ON CONFLICT (email) DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    SELECT id INTO v_id FROM users WHERE email = lower(p_email);
  END IF;
  RETURN v_id;
END
$$;
REVOKE ALL ON FUNCTION rampart_ensure_user(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_ensure_user(text, text) TO rampart_app;

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_tenant ON memberships
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (role), DELETE ON memberships TO rampart_app;

CREATE TABLE groups (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE groups FORCE ROW LEVEL SECURITY;
CREATE POLICY groups_tenant ON groups
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON groups TO rampart_app;

CREATE TABLE group_members (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE group_members FORCE ROW LEVEL SECURITY;
CREATE POLICY group_members_tenant ON group_members
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON group_members TO rampart_app;

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  prefix text NOT NULL,
  -- HMAC-SHA-256(server secret, full key): the secret itself is never stored.
  secret_hash bytea NOT NULL UNIQUE,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  groups text[] NOT NULL DEFAULT '{}',
  created_by text NOT NULL,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at DESC);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant ON api_keys
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (name, role, groups, expires_at, revoked_at) ON api_keys TO rampart_app;

-- Key verification happens before the tenant is known: this narrow function returns the one
-- key whose keyed hash matches (revoked and expired ones too, so their use can be audited
-- to the right tenant), and nothing else. The table keeps its RLS.
CREATE FUNCTION rampart_verify_api_key(p_hash bytea)
RETURNS TABLE (key_id uuid, tenant_id uuid, tenant_slug text, user_id uuid, role text,
               groups text[], expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT k.id, k.tenant_id, t.slug, k.user_id, k.role,
         ARRAY(SELECT DISTINCT x FROM unnest(k.groups || coalesce(
           (SELECT array_agg(g.name) FROM group_members gm JOIN groups g ON g.id = gm.group_id
             WHERE gm.user_id = k.user_id AND gm.tenant_id = k.tenant_id), '{}'::text[])) AS x ORDER BY x),
         k.expires_at, k.revoked_at
    FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
   WHERE k.secret_hash = p_hash
$$;
REVOKE ALL ON FUNCTION rampart_verify_api_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_verify_api_key(bytea) TO rampart_app;

-- The operator path for creating a tenant (the tenant does not exist yet, so no tenant
-- context can authorize it). Callers audit it in the new tenant's chain.
CREATE FUNCTION rampart_create_tenant(p_slug text, p_name text) RETURNS uuid
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO tenants (slug, name) VALUES (p_slug, p_name) RETURNING id
$$;
REVOKE ALL ON FUNCTION rampart_create_tenant(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_create_tenant(text, text) TO rampart_app;

-- Operator reads that span tenants return identifiers only.
CREATE FUNCTION rampart_find_tenant(p_slug text) RETURNS TABLE (id uuid, slug text, name text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT id, slug, name, created_at FROM tenants WHERE slug = p_slug
$$;
REVOKE ALL ON FUNCTION rampart_find_tenant(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_find_tenant(text) TO rampart_app;

-- Append-only, hash-chained audit log. The application role may INSERT and SELECT, never
-- UPDATE or DELETE; (tenant_id, seq) and (tenant_id, prev_hash) unique make a fork impossible.
CREATE TABLE audit_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  seq bigint NOT NULL CHECK (seq > 0),
  occurred_at timestamptz NOT NULL,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'operator', 'anonymous', 'system')),
  actor_id text,
  action text NOT NULL,
  target_type text,
  target_id text,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  ip text,
  request_id text,
  details jsonb NOT NULL DEFAULT '{}',
  prev_hash text NOT NULL,
  hash text NOT NULL,
  UNIQUE (tenant_id, seq),
  UNIQUE (tenant_id, prev_hash)
);
CREATE INDEX audit_events_time ON audit_events (tenant_id, occurred_at DESC, seq DESC);
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_tenant ON audit_events
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON audit_events TO rampart_app;
