-- Governance (issue #28): retention per data class, legal holds, signed audit checkpoints and
-- tenant offboarding. Tenant tables follow the usual rules (tenant_id NOT NULL, RLS ENABLED and
-- FORCED, policies on current_setting('app.tenant_id', true)); the deletions retention and
-- offboarding need go through the narrow SECURITY DEFINER functions below, because the
-- application role has no DELETE on the append-only tables (usage_events, run_events,
-- audit_events). See docs/decisions/018-retention-and-offboarding.md.

-- A tenant's retention period per data class (usage, audit, runs, requests, queries, documents,
-- exports). No row: the class is kept until deleted by hand. `tags` narrows `documents` to
-- documents carrying any of them (empty: every document).
CREATE TABLE retention_policies (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  data_class text NOT NULL CHECK (data_class ~ '^[a-z][a-z_]{0,31}$'),
  days int NOT NULL CHECK (days BETWEEN 1 AND 36500),
  tags text[] NOT NULL DEFAULT '{}',
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, data_class)
);
ALTER TABLE retention_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY retention_policies_tenant ON retention_policies
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE, UPDATE (days, tags, updated_by, updated_at)
  ON retention_policies TO rampart_app;

-- A legal hold: while it exists, retention deletes nothing it covers. scope 'tenant' covers
-- everything of the tenant; 'user' and 'document' cover every row naming that id.
CREATE TABLE legal_holds (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  scope text NOT NULL CHECK (scope IN ('tenant', 'user', 'document')),
  subject_id uuid,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((scope = 'tenant') = (subject_id IS NULL))
);
CREATE UNIQUE INDEX legal_holds_subject
  ON legal_holds (tenant_id, scope, coalesce(subject_id, '00000000-0000-0000-0000-000000000000'));
ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
ALTER TABLE legal_holds FORCE ROW LEVEL SECURITY;
CREATE POLICY legal_holds_tenant ON legal_holds
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE, UPDATE (reason, created_by) ON legal_holds TO rampart_app;

-- One retention sweep per tenant per period: the unique key is what makes the scheduler safe on
-- any number of replicas (the second INSERT of a period finds the row and enqueues nothing).
CREATE TABLE retention_sweeps (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  period_start timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'completed', 'failed')),
  deleted jsonb NOT NULL DEFAULT '{}',
  error text,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, period_start)
);
ALTER TABLE retention_sweeps ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_sweeps FORCE ROW LEVEL SECURITY;
CREATE POLICY retention_sweeps_tenant ON retention_sweeps
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE (state, deleted, error, started_at, finished_at)
  ON retention_sweeps TO rampart_app;

-- Where a pruned audit chain now starts: the seq and hash of the last pruned event, signed with
-- a key derived from the server secret (src/governance/checkpoint.ts). Written only by
-- rampart_prune_audit, in the transaction that deletes the events it stands for.
CREATE TABLE audit_checkpoints (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  seq bigint NOT NULL CHECK (seq > 0),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  pruned int NOT NULL CHECK (pruned >= 0),
  sig text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, seq)
);
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_tenant ON audit_checkpoints
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT ON audit_checkpoints TO rampart_app;

-- The operator's record of an offboarded tenant. Deliberately no tenant_id column and no
-- foreign key: the row outlives the tenant (a tombstone with the id, times and counts), and the
-- purge, which deletes from every table with a tenant_id column, must not delete it.
-- A row with purged_at NULL means the tenant is disabled; restoring deletes the row.
CREATE TABLE tenant_offboardings (
  tenant_ref uuid PRIMARY KEY,
  requested_at timestamptz NOT NULL DEFAULT now(),
  purge_after timestamptz NOT NULL,
  purge_enqueued_at timestamptz,
  purge_started_at timestamptz,
  purged_at timestamptz,
  -- Members when the purge started: the users to delete at its end if no other tenant has them.
  member_ids uuid[],
  deleted jsonb NOT NULL DEFAULT '{}'
);
GRANT SELECT ON tenant_offboardings TO rampart_app;

-- Deletes one bounded batch of the current tenant's rows older than p_before from one table of
-- the retention registry (src/governance/registry.ts), skipping rows whose subject columns name
-- a held id and, with p_tags, rows whose tag column shares none of them. Generic so a class
-- whose table lands later needs only its registry entry; guarded: a tenant context, a table with
-- tenant_id, a timestamptz column, and never the audit log (pruned only through
-- rampart_prune_audit) or the governance tables themselves.
CREATE FUNCTION rampart_retention_delete(
  p_table text, p_time_column text, p_before timestamptz, p_limit int,
  p_subject_columns text[], p_held text[], p_tag_column text, p_tags text[],
  p_kind_column text DEFAULT NULL, p_kinds text[] DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
  v_rel oid;
  v_where text;
  v_col text;
  v_n bigint;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'rampart_retention_delete needs a tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_limit NOT BETWEEN 1 AND 10000 THEN
    RAISE EXCEPTION 'batch size % out of range', p_limit USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_table IN ('audit_events', 'audit_checkpoints', 'tenants', 'legal_holds', 'retention_policies',
                 'retention_sweeps', 'jobs') THEN
    RAISE EXCEPTION 'table % is not subject to retention', p_table USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT c.oid INTO v_rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relname = p_table AND c.relkind IN ('r', 'p');
  IF v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = v_rel
                                   AND attname = 'tenant_id' AND NOT attisdropped) THEN
    RAISE EXCEPTION 'table % is not a tenant table', p_table USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = v_rel AND attname = p_time_column
                  AND NOT attisdropped AND atttypid = 'timestamptz'::regtype) THEN
    RAISE EXCEPTION 'column %.% is not a timestamptz', p_table, p_time_column USING ERRCODE = 'undefined_column';
  END IF;
  v_where := format('tenant_id = $1 AND %I < $2', p_time_column);
  IF coalesce(cardinality(p_held), 0) > 0 THEN
    FOREACH v_col IN ARRAY coalesce(p_subject_columns, '{}'::text[]) LOOP
      -- A row is held when the column's text contains a held id (ids are UUIDs, so a
      -- 'user:<id>' style reference matches as well as a bare id).
      v_where := v_where || format(
        ' AND NOT EXISTS (SELECT 1 FROM unnest($3) h WHERE strpos(coalesce(%I::text, %L), h) > 0)',
        v_col, '');
    END LOOP;
  END IF;
  IF p_tag_column IS NOT NULL AND coalesce(cardinality(p_tags), 0) > 0 THEN
    v_where := v_where || format(' AND %I && $4', p_tag_column);
  END IF;
  -- A class that owns only some rows of a shared table (e.g. request_records of one kind).
  IF p_kind_column IS NOT NULL THEN
    v_where := v_where || format(' AND %I::text = ANY($6)', p_kind_column);
  END IF;
  EXECUTE format(
    'WITH doomed AS (SELECT ctid AS c FROM public.%I WHERE %s LIMIT $5 FOR UPDATE SKIP LOCKED)
     DELETE FROM public.%I t USING doomed WHERE t.ctid = doomed.c',
    p_table, v_where, p_table)
    USING v_tenant, p_before, p_held, p_tags, p_limit, coalesce(p_kinds, '{}'::text[]);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION rampart_retention_delete(text, text, timestamptz, int, text[], text[], text, text[], text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_retention_delete(text, text, timestamptz, int, text[], text[], text, text[], text, text[]) TO rampart_app;

-- Prunes the current tenant's audit chain up to and including p_upto and records the signed
-- checkpoint (computed and checked by the caller, which verified the pruned segment first) in
-- the same transaction. Never the head: the chain must keep an event to append after, or the
-- next event would start a new chain at seq 1. Never an event younger than a day, whatever
-- the caller asks (a floor the database itself holds).
CREATE FUNCTION rampart_prune_audit(p_upto bigint, p_hash text, p_sig text) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
  v_event audit_events%ROWTYPE;
  v_head bigint;
  v_n int;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'rampart_prune_audit needs a tenant context' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('audit:' || v_tenant::text, 0));
  SELECT * INTO v_event FROM audit_events WHERE tenant_id = v_tenant AND seq = p_upto;
  IF NOT FOUND OR v_event.hash <> p_hash THEN
    RAISE EXCEPTION 'event % of the chain is not the one checked' , p_upto USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT max(seq) INTO v_head FROM audit_events WHERE tenant_id = v_tenant;
  IF p_upto >= v_head THEN
    RAISE EXCEPTION 'the head of the chain is never pruned' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF v_event.occurred_at > now() - interval '1 day' THEN
    RAISE EXCEPTION 'audit events younger than a day are never pruned' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM audit_events WHERE tenant_id = v_tenant AND seq <= p_upto;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO audit_checkpoints (tenant_id, seq, hash, pruned, sig)
  VALUES (v_tenant, p_upto, p_hash, v_n, p_sig);
  RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION rampart_prune_audit(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_prune_audit(bigint, text, text) TO rampart_app;

-- Disables a tenant (the operator's DELETE /admin/v1/tenants/:id): records the offboarding with
-- its purge time. False for an unknown tenant; the reserved _system tenant cannot be offboarded.
-- A second call while disabled keeps the first purge time.
CREATE FUNCTION rampart_disable_tenant(p_tenant uuid, p_grace_seconds bigint)
RETURNS TABLE (requested_at timestamptz, purge_after timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF p_tenant = '00000000-0000-0000-0000-000000000000' THEN
    RAISE EXCEPTION 'the system tenant cannot be offboarded' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tenants WHERE id = p_tenant) THEN
    RETURN;
  END IF;
  INSERT INTO tenant_offboardings (tenant_ref, purge_after)
  VALUES (p_tenant, now() + make_interval(secs => p_grace_seconds))
  ON CONFLICT (tenant_ref) DO NOTHING;
  RETURN QUERY SELECT o.requested_at, o.purge_after FROM tenant_offboardings o WHERE o.tenant_ref = p_tenant;
END
$$;

-- Restores a disabled tenant whose purge has not started: 'restored', 'not_disabled' or
-- 'purging' (too late). Row-locked, so a restore and a purge start cannot both win.
CREATE FUNCTION rampart_restore_tenant(p_tenant uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v tenant_offboardings%ROWTYPE;
BEGIN
  SELECT * INTO v FROM tenant_offboardings WHERE tenant_ref = p_tenant FOR UPDATE;
  IF NOT FOUND THEN RETURN 'not_disabled'; END IF;
  IF v.purge_started_at IS NOT NULL OR v.purged_at IS NOT NULL THEN RETURN 'purging'; END IF;
  DELETE FROM tenant_offboardings WHERE tenant_ref = p_tenant;
  RETURN 'restored';
END
$$;

-- One bounded batch of the purge of a disabled tenant past its grace period: deletes up to
-- p_limit of its rows from one table with a tenant_id column (the caller discovers the tables
-- from the catalogue and orders them by foreign keys). The first call marks the purge started
-- (no restore after that) and records the tenant's members.
CREATE FUNCTION rampart_purge_tenant_rows(p_tenant uuid, p_table text, p_limit int) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v tenant_offboardings%ROWTYPE;
  v_rel oid;
  v_n bigint;
BEGIN
  SELECT * INTO v FROM tenant_offboardings WHERE tenant_ref = p_tenant FOR UPDATE;
  IF NOT FOUND OR v.purge_after > now() OR v.purged_at IS NOT NULL THEN
    RAISE EXCEPTION 'tenant % is not due for purging', p_tenant USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v.purge_started_at IS NULL THEN
    UPDATE tenant_offboardings SET purge_started_at = now(),
           member_ids = ARRAY(SELECT user_id FROM memberships WHERE tenant_id = p_tenant)
     WHERE tenant_ref = p_tenant;
  END IF;
  IF p_limit NOT BETWEEN 1 AND 100000 THEN
    RAISE EXCEPTION 'batch size % out of range', p_limit USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT c.oid INTO v_rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relname = p_table AND c.relkind IN ('r', 'p');
  IF v_rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = v_rel
                                   AND attname = 'tenant_id' AND NOT attisdropped) THEN
    RAISE EXCEPTION 'table % is not a tenant table', p_table USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format(
    'WITH doomed AS (SELECT ctid AS c FROM public.%I WHERE tenant_id = $1 LIMIT $2)
     DELETE FROM public.%I t USING doomed WHERE t.ctid = doomed.c', p_table, p_table)
    USING p_tenant, p_limit;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;

-- Ends a purge once no table with a tenant_id column holds a row of the tenant (checked here,
-- from the catalogue): deletes the users who were members of no other tenant, then the tenant
-- row, and keeps the tombstone with the counts. Returns the tables still holding rows (empty
-- when done).
CREATE FUNCTION rampart_finish_tenant_purge(p_tenant uuid, p_deleted jsonb) RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v tenant_offboardings%ROWTYPE;
  r record;
  v_left text[] := '{}';
  v_found boolean;
  v_users bigint;
BEGIN
  SELECT * INTO v FROM tenant_offboardings WHERE tenant_ref = p_tenant FOR UPDATE;
  IF NOT FOUND OR v.purge_started_at IS NULL THEN
    RAISE EXCEPTION 'tenant % has no purge under way', p_tenant USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v.purged_at IS NOT NULL THEN RETURN v_left; END IF;
  FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM public.%I WHERE tenant_id = $1)', r.relname)
      INTO v_found USING p_tenant;
    IF v_found THEN v_left := v_left || r.relname::text; END IF;
  END LOOP;
  IF cardinality(v_left) > 0 THEN RETURN v_left; END IF;
  DELETE FROM users u WHERE u.id = ANY (coalesce(v.member_ids, '{}'))
     AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id);
  GET DIAGNOSTICS v_users = ROW_COUNT;
  DELETE FROM tenants WHERE id = p_tenant;
  UPDATE tenant_offboardings SET purged_at = now(), member_ids = NULL,
         deleted = p_deleted || jsonb_build_object('users', v_users, 'tenants', 1)
   WHERE tenant_ref = p_tenant;
  RETURN v_left;
END
$$;

-- The scheduler's tick, safe on every replica at once: opens this period's retention sweep of
-- each tenant with a policy (the unique (tenant_id, period_start) lets one INSERT win) and
-- enqueues its job, and enqueues the purge of each offboarded tenant whose grace period is over
-- (under the _system tenant: the purge deletes the tenant's own jobs). Returns what it enqueued.
CREATE FUNCTION rampart_schedule_governance(p_period_seconds bigint)
RETURNS TABLE (kind text, tenant_ref uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_period timestamptz := to_timestamp(floor(extract(epoch FROM now()) / p_period_seconds) * p_period_seconds);
  r record;
BEGIN
  FOR r IN
    INSERT INTO retention_sweeps (tenant_id, period_start)
    SELECT DISTINCT p.tenant_id, v_period FROM retention_policies p
     WHERE NOT EXISTS (SELECT 1 FROM tenant_offboardings o WHERE o.tenant_ref = p.tenant_id)
    ON CONFLICT (tenant_id, period_start) DO NOTHING
    RETURNING id, tenant_id
  LOOP
    INSERT INTO jobs (tenant_id, kind, payload, max_attempts)
    VALUES (r.tenant_id, 'governance.retention_sweep', jsonb_build_object('sweepId', r.id), 3);
    kind := 'governance.retention_sweep'; tenant_ref := r.tenant_id; RETURN NEXT;
  END LOOP;
  -- A purge whose job died is enqueued again an hour later; the purge is resumable.
  FOR r IN
    UPDATE tenant_offboardings o SET purge_enqueued_at = now()
     WHERE o.purged_at IS NULL AND o.purge_after <= now()
       AND (o.purge_enqueued_at IS NULL OR o.purge_enqueued_at < now() - interval '1 hour')
    RETURNING o.tenant_ref
  LOOP
    INSERT INTO jobs (tenant_id, kind, payload, max_attempts)
    VALUES ('00000000-0000-0000-0000-000000000000', 'governance.tenant_purge',
            jsonb_build_object('tenantId', r.tenant_ref), 5);
    kind := 'governance.tenant_purge'; tenant_ref := r.tenant_ref; RETURN NEXT;
  END LOOP;
  PERFORM pg_notify('rampart_jobs', 'governance');
END
$$;

REVOKE ALL ON FUNCTION rampart_disable_tenant(uuid, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_restore_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_purge_tenant_rows(uuid, text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_finish_tenant_purge(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION rampart_schedule_governance(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_disable_tenant(uuid, bigint) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_restore_tenant(uuid) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_purge_tenant_rows(uuid, text, int) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_finish_tenant_purge(uuid, jsonb) TO rampart_app;
GRANT EXECUTE ON FUNCTION rampart_schedule_governance(bigint) TO rampart_app;
