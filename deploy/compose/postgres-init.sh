#!/bin/sh
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d):
# pgvector in the application database, and the application login `rampart_api`, a member of
# `rampart_app` only (docs/operations.md "Database roles and grants"). Migration 0001 finds
# rampart_app already there and grants it what the code needs.
set -eu
app_password=$(cat /run/secrets/app_db_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$app_password" <<'SQL'
CREATE EXTENSION IF NOT EXISTS vector;
CREATE ROLE rampart_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE ROLE rampart_api LOGIN PASSWORD :'app_password' IN ROLE rampart_app;
SQL
