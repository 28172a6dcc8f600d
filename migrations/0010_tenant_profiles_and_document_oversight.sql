-- Nothing shared across tenants, and document oversight by row-level security (issue #20).
-- Runs as the owning role (a superuser or BYPASSRLS owner, see 0001).

-- 1. Profiles per tenant membership. users.display_name was global: a name one tenant set was
--    shown to every other tenant of the same address (telling it the person existed elsewhere),
--    and a second tenant's name was ignored. The name now lives on the membership; existing names
--    are carried into every membership of their user, and the global column goes, so nothing can
--    read it again.
ALTER TABLE memberships ADD COLUMN display_name text NOT NULL DEFAULT ''
  CHECK (length(display_name) <= 200);
UPDATE memberships m SET display_name = u.display_name FROM users u WHERE u.id = m.user_id;
GRANT UPDATE (display_name) ON memberships TO rampart_app;

DROP FUNCTION rampart_ensure_user(text, text);
ALTER TABLE users DROP COLUMN display_name;

-- Finds or creates the global identity for an e-mail address; the same answer (an id that grants
-- nothing by itself) whether or not the address is already known, so a tenant learns nothing
-- about other tenants from it.
CREATE FUNCTION rampart_ensure_user(p_email text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_id uuid;
BEGIN
  IF nullif(current_setting('app.tenant_id', true), '') IS NULL THEN
    RAISE EXCEPTION 'rampart_ensure_user needs a tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO users (email) VALUES (lower(p_email))
  ON CONFLICT (email) DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    SELECT id INTO v_id FROM users WHERE email = lower(p_email);
  END IF;
  RETURN v_id;
END
$$;
REVOKE ALL ON FUNCTION rampart_ensure_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_ensure_user(text) TO rampart_app;

-- 2. The principal's permissions, as set by withTenant (a JSON array), for policies that follow a
--    permission rather than a group.
CREATE FUNCTION app_has_permission(p text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(nullif(current_setting('app.permissions', true), '')::jsonb ? p, false)
$$;

-- Whether this tenant lets document managers read restricted content (knowledge setting
-- adminsReadRestricted). Runs as the caller, so knowledge_settings' own policy confines it.
ALTER TABLE knowledge_settings ADD COLUMN admins_read_restricted boolean NOT NULL DEFAULT false;
GRANT UPDATE (admins_read_restricted) ON knowledge_settings TO rampart_app;

CREATE FUNCTION app_reads_restricted_content() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT app_has_permission('documents:manage') AND EXISTS (
    SELECT 1 FROM knowledge_settings s
     WHERE s.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
       AND s.admins_read_restricted)
$$;

-- 3. Who uploaded a document (so the uploader always sees its status). Filled on insert; existing
--    rows get it from created_by ('api_key:<id>' or 'user:<id>') and the key's user.
ALTER TABLE documents ADD COLUMN uploaded_by_key uuid, ADD COLUMN uploaded_by_user uuid;
UPDATE documents SET uploaded_by_key = substr(created_by, 9)::uuid
 WHERE created_by ~ '^api_key:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
UPDATE documents SET uploaded_by_user = substr(created_by, 6)::uuid
 WHERE created_by ~ '^user:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
UPDATE documents d SET uploaded_by_user = k.user_id
  FROM api_keys k WHERE k.id = d.uploaded_by_key AND d.uploaded_by_user IS NULL;

-- 4. Document policies by command. Metadata (the documents row): its groups, holders of
--    documents:manage (owner, admin), and its uploader. Updating and deleting: its groups and
--    documents:manage. Inserting: the tenant only (an admin may file a document under a group it is
--    not in). The (SELECT ...) wrappers make the per-statement checks InitPlans, evaluated once.
--    A document's groups may now change (group deletion): the chunks' copy is rewritten in the
--    same transaction by rampart_sync_chunk_groups below.
DROP POLICY documents_tenant ON documents;
CREATE POLICY documents_read ON documents FOR SELECT
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups()
              OR (SELECT app_has_permission('documents:manage'))
              OR uploaded_by_key = (SELECT nullif(current_setting('app.key_id', true), '')::uuid)
              OR uploaded_by_user = (SELECT nullif(current_setting('app.user_id', true), '')::uuid)));
CREATE POLICY documents_insert ON documents FOR INSERT
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY documents_update ON documents FOR UPDATE
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups() OR (SELECT app_has_permission('documents:manage'))))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY documents_delete ON documents FOR DELETE
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups() OR (SELECT app_has_permission('documents:manage'))));
GRANT UPDATE (groups) ON documents TO rampart_app;

-- Content (bytes, chunks, postings): only the document's groups, or documents:manage holders when
-- the tenant turned adminsReadRestricted on. documents:manage alone does NOT open content.
DROP POLICY document_blobs_tenant ON document_blobs;
CREATE POLICY document_blobs_tenant ON document_blobs
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND EXISTS (SELECT 1 FROM documents d WHERE d.id = document_id
                       AND (d.groups = '{}' OR d.groups && app_groups()
                            OR (SELECT app_reads_restricted_content()))))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

DROP POLICY chunks_tenant ON chunks;
CREATE POLICY chunks_tenant ON chunks
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups() OR (SELECT app_reads_restricted_content())))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

DROP POLICY chunk_terms_tenant ON chunk_terms;
CREATE POLICY chunk_terms_tenant ON chunk_terms
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups() OR (SELECT app_reads_restricted_content())))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- 5. Keeps the chunks' copy of their documents' groups equal to the documents' (after a group is
--    removed from documents). SECURITY DEFINER because the caller may not see the chunks it must
--    rewrite; it can do nothing but make the copy match the truth, in the caller's tenant only.
CREATE FUNCTION rampart_sync_chunk_groups(p_document_ids uuid[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
  v_n bigint;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'rampart_sync_chunk_groups needs a tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  UPDATE chunks c SET groups = d.groups
    FROM documents d
   WHERE d.id = c.document_id AND d.tenant_id = v_tenant AND c.tenant_id = v_tenant
     AND c.document_id = ANY (p_document_ids) AND c.groups IS DISTINCT FROM d.groups;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION rampart_sync_chunk_groups(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_sync_chunk_groups(uuid[]) TO rampart_app;

-- A groups-only change of a chunk rewrites its postings' copy in place instead of re-deriving
-- every posting from the tsvector.
CREATE OR REPLACE FUNCTION chunks_index_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.tsv = OLD.tsv AND NEW.lex_len = OLD.lex_len THEN
      UPDATE chunk_terms SET groups = NEW.groups WHERE chunk_id = NEW.id;
      RETURN NULL;
    END IF;
    DELETE FROM chunk_terms WHERE chunk_id = OLD.id;
  END IF;
  INSERT INTO chunk_terms (tenant_id, lexeme, chunk_id, document_id, tf, lex_len, groups)
  SELECT NEW.tenant_id, u.lexeme, NEW.id, NEW.document_id,
         coalesce(array_length(u.positions, 1), 1), NEW.lex_len, NEW.groups
    FROM unnest(NEW.tsv) u;
  RETURN NULL;
END
$$;
