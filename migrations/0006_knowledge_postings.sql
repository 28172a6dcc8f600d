-- Knowledge hub: a BM25 postings table, document counts for metrics, and a narrow ANALYZE.
-- Runs as the owning role (a superuser or BYPASSRLS owner, see 0001).
--
-- chunk_terms holds one row per (chunk, indexed lexeme) with the lexeme's term frequency and the
-- chunk's BM25 length. Keyword search reads only the rows of the query's lexemes through the
-- primary key, instead of expanding the tsvector of every matching chunk (which cost ~45 ms a
-- query on SciFact). Rows are written by a trigger on chunks, so every path that inserts chunks
-- keeps them in step; they go with their chunk (ON DELETE CASCADE). Same RLS as chunks, with a
-- copy of the chunk's groups, so a posting is exactly as visible as its chunk.
--
-- The key leads with the lexeme, not the tenant: the only cheap way into the table is then by a
-- query lexeme, whatever the planner believes. Led by tenant_id, a tenant filled since the last
-- ANALYZE looked empty to the planner, which scanned the tenant's whole range (all its postings)
-- instead of its lexemes' (600 ms instead of 5). Rows go with their chunk, and chunks with their
-- tenant, so no foreign key to tenants (its cascade would need an index led by tenant_id).
CREATE TABLE chunk_terms (
  tenant_id uuid NOT NULL,
  lexeme text NOT NULL,
  chunk_id uuid NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
  document_id uuid NOT NULL,
  -- Occurrences of the lexeme in the chunk (tsvector keeps at most 256 positions per lexeme).
  tf int NOT NULL CHECK (tf > 0),
  -- The chunk's lex_len, copied so scoring never visits chunks for the candidates it drops.
  lex_len int NOT NULL,
  groups text[] NOT NULL DEFAULT '{}',
  -- INCLUDE: scoring reads every column from the index (an index-only scan once vacuumed).
  PRIMARY KEY (lexeme, tenant_id, chunk_id) INCLUDE (tf, lex_len, document_id, groups)
);
-- For the cascade from chunks.
CREATE INDEX chunk_terms_chunk ON chunk_terms (chunk_id);

INSERT INTO chunk_terms (tenant_id, lexeme, chunk_id, document_id, tf, lex_len, groups)
SELECT c.tenant_id, u.lexeme, c.id, c.document_id,
       coalesce(array_length(u.positions, 1), 1), c.lex_len, c.groups
  FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) u;

ALTER TABLE chunk_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunk_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY chunk_terms_tenant ON chunk_terms
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups()))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON chunk_terms TO rampart_app;

-- Runs as the inserting role, under chunk_terms' WITH CHECK: a tenant transaction can only
-- index its own chunks. AFTER, so NEW.tsv and NEW.lex_len are the chunks_tsv trigger's.
CREATE FUNCTION chunks_index_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM chunk_terms WHERE chunk_id = OLD.id;
  END IF;
  INSERT INTO chunk_terms (tenant_id, lexeme, chunk_id, document_id, tf, lex_len, groups)
  SELECT NEW.tenant_id, u.lexeme, NEW.id, NEW.document_id,
         coalesce(array_length(u.positions, 1), 1), NEW.lex_len, NEW.groups
    FROM unnest(NEW.tsv) u;
  RETURN NULL;
END
$$;
CREATE TRIGGER chunks_terms AFTER INSERT OR UPDATE OF text, tsv, groups ON chunks
  FOR EACH ROW EXECUTE FUNCTION chunks_index_terms();

-- Documents by status across tenants, for the rampart_documents gauge (counts only, no tenant data).
CREATE FUNCTION rampart_document_counts() RETURNS TABLE (status text, n bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT status, count(*) FROM documents GROUP BY 1
$$;

-- Refreshes the planner statistics of the knowledge tables. Embedded PGlite has no autovacuum:
-- without statistics the planner takes a fresh tenant's chunks for an empty table and scans them
-- all instead of using the HNSW index. The application role does not own the tables, so it may
-- not ANALYZE them itself; this function does only that. Returns the chunks the statistics
-- now count (reltuples), from which the caller sets its next threshold.
CREATE FUNCTION rampart_analyze_knowledge() RETURNS real
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  ANALYZE public.chunks;
  ANALYZE public.chunk_terms;
  ANALYZE public.documents;
  RETURN (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'public.chunks'::regclass);
END
$$;

REVOKE ALL ON FUNCTION rampart_document_counts() FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_analyze_knowledge() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_document_counts() TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_analyze_knowledge() TO rampart_app;
