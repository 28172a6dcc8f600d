-- Webhooks (issue #31): a tenant's endpoints, the outbox of deliveries written in the same
-- transaction as the event they announce, and every attempt made to deliver one. Same rules as
-- every tenant table: tenant_id NOT NULL, RLS ENABLED and FORCED, policies on
-- current_setting('app.tenant_id', true) for reads and writes.

-- An endpoint. Its signing secret (whsec_…) is an AES-256-GCM envelope stored as jsonb
-- ({keyId, wrappedKey, iv, ciphertext, tag}, base64), bound to the row by its context and never
-- returned after creation or rotation. During a rotation's overlap the previous secret signs too.
-- last_seq numbers the endpoint's deliveries: taking the next number locks the row, so the
-- numbers follow the commit order of the events and the worker delivers in that order.
-- lease_* mark the one worker draining the endpoint's outbox at a time.
CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
  events text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  enabled boolean NOT NULL DEFAULT true,
  secret_envelope jsonb NOT NULL,
  previous_secret_envelope jsonb,
  previous_secret_expires_at timestamptz,
  last_seq bigint NOT NULL DEFAULT 0,
  lease_token uuid,
  lease_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at);
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_endpoints_tenant ON webhook_endpoints
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (url, events, description, enabled, secret_envelope, previous_secret_envelope,
          previous_secret_expires_at, last_seq, lease_token, lease_until, updated_at)
  ON webhook_endpoints TO rampart_app;

-- One event for one endpoint: the message a receiver gets (its id is the webhook-id header, the
-- same on every attempt, so a receiver deduplicates on it). body is the exact JSON sent, kept
-- as text so every attempt signs the same bytes.
CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  event_type text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
  body text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts int NOT NULL DEFAULT 0,
  -- NULL: WEBHOOK_MAX_ATTEMPTS; a manual retry of a dead delivery allows one more attempt.
  max_attempts int CHECK (max_attempts IS NULL OR max_attempts >= 1),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_status int,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (endpoint_id, seq)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, seq)
  WHERE state = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, created_at DESC);
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_deliveries_tenant ON webhook_deliveries
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT,
  UPDATE (state, attempts, max_attempts, next_attempt_at, last_status, last_error, delivered_at)
  ON webhook_deliveries TO rampart_app;

-- Every attempt: the status code the receiver answered (NULL when none: timeout, refused
-- connection, blocked address), how long it took and what went wrong.
CREATE TABLE webhook_attempts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt int NOT NULL,
  status_code int,
  duration_ms int NOT NULL,
  error text,
  started_at timestamptz NOT NULL,
  UNIQUE (delivery_id, attempt)
);
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_attempts_tenant ON webhook_attempts
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON webhook_attempts TO rampart_app;
