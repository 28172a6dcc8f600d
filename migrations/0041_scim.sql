-- SCIM 2.0 provisioning (issue #26): the tenant's SCIM bearer token, and what an identity
-- provider keeps on the users and groups it provisions. Tenant data under the same policies as 0001.

-- One SCIM token per tenant; only a keyed hash is stored. Rotating replaces the row.
CREATE TABLE scim_tokens (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  token_hash bytea NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE scim_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE scim_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY scim_tokens_tenant ON scim_tokens
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (id, token_hash, prefix, created_by, created_at), DELETE
  ON scim_tokens TO rampart_app;

-- Before the tenant is known (the token is all there is): the tenant whose SCIM token matches.
CREATE FUNCTION rampart_verify_scim_token(p_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, tenant_slug text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT s.id, s.tenant_id, t.slug FROM scim_tokens s JOIN tenants t ON t.id = s.tenant_id
   WHERE s.token_hash = p_hash
$$;
REVOKE ALL ON FUNCTION rampart_verify_scim_token(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_verify_scim_token(bytea) TO rampart_app;

-- What the IdP says about a member: its own id for them, their name parts, and a version that
-- changes with every write (SCIM meta.version, the ETag).
ALTER TABLE memberships
  ADD COLUMN scim_external_id text CHECK (length(scim_external_id) <= 500),
  ADD COLUMN scim_name jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN version integer NOT NULL DEFAULT 1,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
GRANT UPDATE (scim_external_id, scim_name, version, updated_at) ON memberships TO rampart_app;

-- A group's name is what documents and keys refer to (restricted characters, never renamed);
-- an IdP's display name ("Legal Team") is kept beside it and may change.
ALTER TABLE groups
  ADD COLUMN display_name text CHECK (length(display_name) <= 500),
  ADD COLUMN scim_external_id text CHECK (length(scim_external_id) <= 500),
  ADD COLUMN version integer NOT NULL DEFAULT 1,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
GRANT UPDATE (display_name, scim_external_id, version, updated_at) ON groups TO rampart_app;
