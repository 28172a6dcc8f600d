-- LLM gateway: providers (credentials envelope-encrypted), model routes, per-tenant prices and
-- the usage ledger. Same rules as every tenant table: tenant_id NOT NULL, RLS ENABLED and
-- FORCED, policies on current_setting('app.tenant_id', true) for reads and writes.

CREATE TABLE providers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  type text NOT NULL CHECK (type IN ('openai', 'anthropic')),
  base_url text NOT NULL CHECK (base_url ~ '^https?://'),
  -- AES-256-GCM envelope: a per-secret data key wrapped under master key `credential_key_id`.
  -- The plaintext key is never stored; rotation re-wraps credential_wrapped_key only.
  credential_key_id text NOT NULL,
  credential_wrapped_key bytea NOT NULL,
  credential_iv bytea NOT NULL,
  credential_ciphertext bytea NOT NULL,
  credential_tag bytea NOT NULL,
  -- Extra request headers that are not secret (e.g. an organisation id).
  headers jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
ALTER TABLE providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE providers FORCE ROW LEVEL SECURITY;
CREATE POLICY providers_tenant ON providers
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (name, base_url, headers, credential_key_id, credential_wrapped_key, credential_iv,
          credential_ciphertext, credential_tag, updated_at)
  ON providers TO rampart_app;

-- An alias ('default', 'fast', or '*' to pass model names through) and where it sends traffic.
CREATE TABLE model_routes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  alias text NOT NULL CHECK (alias = '*' OR alias ~ '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$'),
  -- [{ "provider": name, "model": text, "weight": int }], non-empty.
  targets jsonb NOT NULL CHECK (jsonb_typeof(targets) = 'array' AND jsonb_array_length(targets) > 0),
  -- [{ "provider": name, "model": text }], tried in order when the chosen target fails.
  fallbacks jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(fallbacks) = 'array'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, alias)
);
ALTER TABLE model_routes ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_routes FORCE ROW LEVEL SECURITY;
CREATE POLICY model_routes_tenant ON model_routes
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE, UPDATE (targets, fallbacks, updated_at) ON model_routes TO rampart_app;

-- A tenant's price override for one upstream model, in USD per million tokens.
CREATE TABLE model_prices (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
  input_per_mtok numeric(14, 6) NOT NULL CHECK (input_per_mtok >= 0),
  output_per_mtok numeric(14, 6) NOT NULL CHECK (output_per_mtok >= 0),
  cached_input_per_mtok numeric(14, 6) NOT NULL CHECK (cached_input_per_mtok >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, model)
);
ALTER TABLE model_prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_prices FORCE ROW LEVEL SECURITY;
CREATE POLICY model_prices_tenant ON model_prices
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE,
  UPDATE (input_per_mtok, output_per_mtok, cached_input_per_mtok, updated_at)
  ON model_prices TO rampart_app;

-- The usage ledger: one row per gateway request, append-only for the application.
CREATE TABLE usage_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  key_id uuid,
  user_id uuid,
  endpoint text NOT NULL CHECK (endpoint IN ('chat', 'embeddings')),
  alias text NOT NULL,
  provider text,
  target_model text,
  prompt_tokens integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
  completion_tokens integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
  cached_tokens integer NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
  -- NULL when no price is known for the target model.
  cost_usd numeric(20, 10),
  latency_ms integer NOT NULL CHECK (latency_ms >= 0),
  upstream_latency_ms integer CHECK (upstream_latency_ms >= 0),
  status integer NOT NULL,
  stream boolean NOT NULL DEFAULT false,
  cache_hit boolean NOT NULL DEFAULT false,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_tenant_time ON usage_events (tenant_id, created_at DESC);
CREATE INDEX usage_events_request ON usage_events (tenant_id, request_id);
ALTER TABLE usage_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_events FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_events_tenant ON usage_events
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON usage_events TO rampart_app;
