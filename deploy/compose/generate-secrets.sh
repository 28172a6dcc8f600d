#!/bin/sh
# Writes the secret files deploy/compose.yaml mounts (deploy/compose/secrets/, git-ignored).
# Existing files are kept, so running it again never rotates a key by accident.
set -eu
dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)/secrets
mkdir -p "$dir"
umask 077
rand() { node -e "process.stdout.write(require('node:crypto').randomBytes($1).toString('$2'))"; }
put() { [ -s "$dir/$1" ] || printf '%s' "$2" >"$dir/$1"; }
put postgres_password "$(rand 24 hex)"
put app_db_password "$(rand 24 hex)"
put database_admin_url "postgres://postgres:$(cat "$dir/postgres_password")@postgres:5432/rampart"
put database_url "postgres://rampart_api:$(cat "$dir/app_db_password")@postgres:5432/rampart"
put secret_key "$(rand 48 base64)"
put master_key "$(rand 32 base64)"
put root_token "$(rand 32 hex)"
put metrics_token "$(rand 32 hex)"
put grafana_admin_password "$(rand 16 hex)"
echo "secrets in $dir (root token: $dir/root_token)"
