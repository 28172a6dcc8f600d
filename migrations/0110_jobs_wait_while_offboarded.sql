-- A disabled (offboarded) tenant's background jobs wait instead of running: its credentials are
-- refused at once, and its queued work (ingestion, copilot runs, webhook deliveries, exports)
-- must stop with them. A restore within the grace period lets them run; the purge deletes them.
-- The purge job itself belongs to the platform tenant, so it is never held back.
CREATE OR REPLACE FUNCTION rampart_claim_jobs(p_kinds text[], p_limit int, p_lease_ms int)
RETURNS TABLE (id uuid, tenant_id uuid, kind text, payload jsonb, attempts int, max_attempts int)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH due AS (
    SELECT d.id FROM jobs d
     WHERE d.kind = ANY (p_kinds)
       AND ((d.state = 'queued' AND d.run_at <= now()) OR (d.state = 'running' AND d.locked_until <= now()))
       AND NOT EXISTS (SELECT 1 FROM tenant_offboardings o WHERE o.tenant_ref = d.tenant_id)
     ORDER BY d.run_at
     LIMIT p_limit
     FOR UPDATE OF d SKIP LOCKED
  )
  UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, updated_at = now(),
         locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
    FROM due WHERE j.id = due.id
  RETURNING j.id, j.tenant_id, j.kind, j.payload, j.attempts, j.max_attempts
$$;
