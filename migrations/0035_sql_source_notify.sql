-- Text-to-SQL hot path (issue #24): every instance holds each source's row, warm connection
-- pool and catalogue in memory. A change to a source NOTIFYs '<tenant_id>:<id>' on
-- 'rampart_sql_sources' so every instance drops what it holds at once; the trigger fires for
-- every writer (API, migrations, an operator's psql). NOTIFY is delivered on commit only.

CREATE FUNCTION sql_source_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('rampart_sql_sources', OLD.tenant_id::text || ':' || OLD.id::text);
  ELSE
    PERFORM pg_notify('rampart_sql_sources', NEW.tenant_id::text || ':' || NEW.id::text);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER sql_sources_changed AFTER UPDATE OR DELETE ON sql_sources
  FOR EACH ROW EXECUTE FUNCTION sql_source_changed();
