-- Cheap rejection of made-up API keys (issue #21): every instance keeps the prefixes of live
-- keys in memory and refuses a key whose prefix it does not know without a database lookup.
-- The set is loaded at start through the narrow function below (prefixes only: 48 bits of a
-- 256-bit key, never enough to use it) and kept current by a NOTIFY on the channel that
-- already carries revocations, fired by a trigger so every writer (API, tenant bootstrap, an
-- operator's psql) announces a new key. NOTIFY is delivered on commit, never on rollback.

CREATE FUNCTION rampart_live_api_key_prefixes() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT prefix FROM api_keys
   WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
$$;
REVOKE ALL ON FUNCTION rampart_live_api_key_prefixes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rampart_live_api_key_prefixes() TO rampart_app;

CREATE FUNCTION api_key_issued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('rampart_api_keys', 'issued:' || NEW.prefix);
  RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_issued AFTER INSERT ON api_keys
  FOR EACH ROW EXECUTE FUNCTION api_key_issued();
