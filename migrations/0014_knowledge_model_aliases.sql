-- The gateway aliases a tenant's knowledge hub calls: one for embeddings (ingestion and query
-- vectors), one for generative /v1/ask answers. NULL: the platform default (EMBEDDINGS_* /
-- ASK_CHAT_*), else the built-in local embedder / extractive answers. Every such call goes
-- through the gateway, so it is metered, limited and budgeted for the tenant.
ALTER TABLE knowledge_settings ADD COLUMN embedding_alias text;
ALTER TABLE knowledge_settings ADD COLUMN answer_alias text;
GRANT UPDATE (embedding_alias, answer_alias) ON knowledge_settings TO rampart_app;
