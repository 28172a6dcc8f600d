-- Evals and quality monitoring (issue #29): stored golden sets, eval runs, the record of who
-- asked what (so feedback can be tied to its asker), and feedback. Same rules as every tenant
-- table: tenant_id NOT NULL, RLS ENABLED and FORCED, policies on
-- current_setting('app.tenant_id', true) for reads and writes.

-- A dataset version: a change stores a new row with the next version; old versions stay, so a
-- run's result names exactly the cases it was scored on.
CREATE TABLE eval_datasets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
  version int NOT NULL CHECK (version >= 1),
  cases jsonb NOT NULL CHECK (jsonb_typeof(cases) = 'array'),
  content_hash text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name, version)
);
ALTER TABLE eval_datasets ENABLE ROW LEVEL SECURITY;
ALTER TABLE eval_datasets FORCE ROW LEVEL SECURITY;
CREATE POLICY eval_datasets_tenant ON eval_datasets
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON eval_datasets TO rampart_app;

-- A finished eval run: the scored result (per case and totals) and the gate's verdict.
CREATE TABLE eval_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  dataset_id uuid NOT NULL REFERENCES eval_datasets (id) ON DELETE CASCADE,
  passed boolean NOT NULL,
  result jsonb NOT NULL CHECK (jsonb_typeof(result) = 'object'),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eval_runs_tenant_created ON eval_runs (tenant_id, created_at DESC);
ALTER TABLE eval_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE eval_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY eval_runs_tenant ON eval_runs
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON eval_runs TO rampart_app;

-- One row per answered /v1/ask: who asked (user, or key for a key with no user) and whether
-- the answer had support. Feedback on a request id is accepted only from its asker (or an admin).
CREATE TABLE answer_requests (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  request_id text NOT NULL,
  user_id uuid,
  key_id uuid,
  supported boolean NOT NULL,
  top_score double precision,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, request_id)
);
ALTER TABLE answer_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE answer_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY answer_requests_tenant ON answer_requests
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON answer_requests TO rampart_app;

-- Feedback on an answer, one per request (a second rating replaces the first). `score` is the
-- rating on 0..1 (up 1, down 0, n of 5 as (n-1)/4) so thumbs and stars aggregate together.
CREATE TABLE feedback (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  request_id text NOT NULL,
  rating text NOT NULL CHECK (rating IN ('up', 'down', '1', '2', '3', '4', '5')),
  score double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
  comment text,
  tags text[] NOT NULL DEFAULT '{}',
  rated_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, request_id),
  FOREIGN KEY (tenant_id, request_id) REFERENCES answer_requests (tenant_id, request_id) ON DELETE CASCADE
);
ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback FORCE ROW LEVEL SECURITY;
CREATE POLICY feedback_tenant ON feedback
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (rating, score, comment, tags, rated_by, updated_at)
  ON feedback TO rampart_app;
