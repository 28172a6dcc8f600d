-- Knowledge hub (documents, their stored bytes, chunks with vectors and full-text, embedding
-- cache) and the durable job queue. Runs as the owning role.
--
-- Visibility: a document with groups = '{}' is visible tenant-wide; otherwise only to a
-- principal holding one of its groups (app_groups(), set by withTenant). The policies on
-- documents AND chunks enforce it, so retrieval cannot return a chunk the caller may not read.
-- Chunks carry a copy of their document's groups so the policy is a cheap column test on the
-- search path; documents' groups are immutable for now (no update path), and any future
-- "change groups" operation must rewrite the chunks' copy in the same transaction.
--
-- Embedding dimension: chunks.embedding is vector(1024), the dimension of the built-in local
-- embedder (rampart-local-hash-v2-1024). A provider with another dimension needs a migration that
-- adds a column (and HNSW index) of that dimension; chunks.embedding_model records which model
-- produced each vector so mixed models are never compared. The cache stores untyped vectors.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  source_type text NOT NULL CHECK (source_type IN ('pdf', 'docx', 'html', 'markdown', 'text')),
  -- SHA-256 (hex) of the uploaded bytes: identical re-uploads are detected by it.
  content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
  tags text[] NOT NULL DEFAULT '{}',
  -- Sorted and de-duplicated by the application, so equal sets compare equal.
  groups text[] NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
  failure_reason text,
  page_count int,
  chunk_count int NOT NULL DEFAULT 0,
  bytes bigint NOT NULL CHECK (bytes >= 0),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, content_hash, groups)
);
CREATE INDEX documents_list ON documents (tenant_id, created_at DESC, id DESC);
CREATE INDEX documents_tags ON documents USING gin (tags);
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
-- Writes are checked for the tenant only: an admin may file a document under a group it is not
-- in (it then cannot read it back, which is the point).
CREATE POLICY documents_tenant ON documents
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups()))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
      UPDATE (status, failure_reason, page_count, chunk_count, updated_at) ON documents TO rampart_app;

-- The uploaded bytes, kept so ingestion runs later (and can be re-run) from the database alone.
CREATE TABLE document_blobs (
  document_id uuid PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  content bytea NOT NULL
);
ALTER TABLE document_blobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_blobs FORCE ROW LEVEL SECURITY;
-- The sub-select on documents is itself under documents' policy: a blob is as visible as its document.
CREATE POLICY document_blobs_tenant ON document_blobs
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND EXISTS (SELECT 1 FROM documents d WHERE d.id = document_id))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON document_blobs TO rampart_app;

CREATE TABLE chunks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  ordinal int NOT NULL CHECK (ordinal >= 0),
  -- PII-masked text: what is indexed, embedded and returned by search.
  text text NOT NULL,
  content_hash text NOT NULL,
  page_from int,
  page_to int,
  heading_path text[] NOT NULL DEFAULT '{}',
  token_count int NOT NULL,
  groups text[] NOT NULL DEFAULT '{}',
  -- Maintained by a trigger rather than GENERATED, so whole-row copies (exports, restores) can be
  -- inserted as they are; the trigger recomputes it from text either way.
  tsv tsvector NOT NULL DEFAULT ''::tsvector,
  -- Indexed lexeme occurrences in tsv: the document length of BM25.
  lex_len int NOT NULL DEFAULT 0,
  embedding vector(1024),
  embedding_model text,
  UNIQUE (document_id, ordinal)
);
CREATE FUNCTION chunks_set_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.tsv := to_tsvector('english', NEW.text);
  NEW.lex_len := coalesce((SELECT sum(coalesce(array_length(u.positions, 1), 1)) FROM unnest(NEW.tsv) u), 0);
  RETURN NEW;
END
$$;
CREATE TRIGGER chunks_tsv BEFORE INSERT OR UPDATE OF text ON chunks
  FOR EACH ROW EXECUTE FUNCTION chunks_set_tsv();
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX chunks_tenant ON chunks (tenant_id, document_id);
ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY chunks_tenant ON chunks
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
         AND (groups = '{}' OR groups && app_groups()))
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON chunks TO rampart_app;

-- Re-ingesting unchanged text never re-embeds it: vectors keyed by model and text hash.
CREATE TABLE embedding_cache (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  model text NOT NULL,
  content_hash text NOT NULL,
  embedding vector NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, model, content_hash)
);
ALTER TABLE embedding_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE embedding_cache FORCE ROW LEVEL SECURITY;
CREATE POLICY embedding_cache_tenant ON embedding_cache
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON embedding_cache TO rampart_app;

-- The durable job queue (docs/decisions/005-job-queue.md). A tenant transaction enqueues its
-- own jobs (under RLS, committed or rolled back with the row they process); workers, which act
-- for no tenant, claim and settle jobs only through the SECURITY DEFINER functions below.
CREATE TABLE jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
  payload jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'completed', 'dead')),
  attempts int NOT NULL DEFAULT 0,
  max_attempts int NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
  run_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  last_error text,
  failed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_tenant ON jobs (tenant_id, created_at DESC);
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY jobs_tenant ON jobs
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON jobs TO rampart_app;

-- Claims up to p_limit due jobs of the given kinds: queued ones whose run_at has come, and
-- running ones whose lease (locked_until) expired because their worker died. Claiming counts an
-- attempt; a job re-claimed after its last attempt's worker died comes back with
-- attempts > max_attempts, and the worker settles it as dead without running it (so the
-- handler's dead-job hook still runs). SKIP LOCKED lets workers claim concurrently.
CREATE FUNCTION rampart_claim_jobs(p_kinds text[], p_limit int, p_lease_ms int)
RETURNS TABLE (id uuid, tenant_id uuid, kind text, payload jsonb, attempts int, max_attempts int)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH due AS (
    SELECT d.id FROM jobs d
     WHERE d.kind = ANY (p_kinds)
       AND ((d.state = 'queued' AND d.run_at <= now()) OR (d.state = 'running' AND d.locked_until <= now()))
     ORDER BY d.run_at
     LIMIT p_limit
     FOR UPDATE SKIP LOCKED
  )
  UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, updated_at = now(),
         locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
    FROM due WHERE j.id = due.id
  RETURNING j.id, j.tenant_id, j.kind, j.payload, j.attempts, j.max_attempts
$$;

-- Extends the lease of a running attempt (a heartbeat for long jobs). False if the attempt lost it.
CREATE FUNCTION rampart_extend_job_lease(p_id uuid, p_attempt int, p_lease_ms int) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH u AS (
    UPDATE jobs SET locked_until = now() + make_interval(secs => p_lease_ms / 1000.0), updated_at = now()
     WHERE id = p_id AND state = 'running' AND attempts = p_attempt RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM u)
$$;

-- Settles an attempt as done. Only the attempt that holds the job may settle it.
CREATE FUNCTION rampart_complete_job(p_id uuid, p_attempt int) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH u AS (
    UPDATE jobs SET state = 'completed', locked_until = NULL, completed_at = now(), updated_at = now()
     WHERE id = p_id AND state = 'running' AND attempts = p_attempt RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM u)
$$;

-- Settles an attempt as failed: back to queued after p_retry_ms, or dead once attempts are
-- used up. Returns the new state, or NULL if the attempt no longer held the job.
CREATE FUNCTION rampart_fail_job(p_id uuid, p_attempt int, p_error text, p_retry_ms bigint) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE jobs SET
         state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
         run_at = CASE WHEN attempts >= max_attempts THEN run_at
                       ELSE now() + make_interval(secs => p_retry_ms / 1000.0) END,
         locked_until = NULL, last_error = left(p_error, 4000), failed_at = now(), updated_at = now()
   WHERE id = p_id AND state = 'running' AND attempts = p_attempt
  RETURNING state
$$;

-- Queue depth by kind and state, for metrics (counts only, no tenant data).
CREATE FUNCTION rampart_job_counts() RETURNS TABLE (kind text, state text, n bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT kind, state, count(*) FROM jobs WHERE state IN ('queued', 'running', 'dead') GROUP BY 1, 2
$$;

REVOKE ALL ON FUNCTION rampart_claim_jobs(text[], int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_extend_job_lease(uuid, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_complete_job(uuid, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_fail_job(uuid, int, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_job_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_claim_jobs(text[], int, int) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_extend_job_lease(uuid, int, int) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_complete_job(uuid, int) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_fail_job(uuid, int, text, bigint) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_job_counts() TO rampart_app;
