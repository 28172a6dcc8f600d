-- Gateway response cache and offline usage estimates. No new table: a route may turn the
-- exact-match response cache on, and a usage row says whether its token counts came from the
-- provider or from Rampart's offline estimate (the provider reported none).

-- { "ttlSeconds": int } or NULL (no route-level caching; a request header may still ask for it).
ALTER TABLE model_routes ADD COLUMN cache jsonb
  CHECK (cache IS NULL OR (jsonb_typeof(cache) = 'object'
         AND jsonb_typeof(cache -> 'ttlSeconds') = 'number'));
GRANT UPDATE (cache) ON model_routes TO rampart_app;

-- true: prompt/completion tokens (and so the cost and the budget settlement) are Rampart's
-- offline estimate because the upstream answer carried no usage.
ALTER TABLE usage_events ADD COLUMN usage_estimated boolean NOT NULL DEFAULT false;
