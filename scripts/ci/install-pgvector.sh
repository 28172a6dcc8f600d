#!/usr/bin/env bash
# Makes `CREATE EXTENSION vector` work on the machine's Debian PostgreSQL.
#
# Debian 12 (bookworm) packages no pgvector for PostgreSQL 15, so when the extension is
# missing we build it from Debian's own pgvector source package (taken from a newer
# release's deb-src) against postgresql-server-dev-<major>. When the workplace's shared
# copy of this step exists (../shared/tools/install-pgvector.sh) it is used instead; this
# file keeps the same logic in the repository so CI does not depend on it.
#
# Environment: PGHOST (default 127.0.0.1), PGUSER (default postgres), PGVECTOR_SUITE
# (the Debian suite to take the source package from; default trixie), PGVECTOR_FORCE_BUILD=1
# (skip the checks and the shared copy and build anyway: to exercise this fallback).
set -euo pipefail

export PGHOST="${PGHOST:-127.0.0.1}" PGUSER="${PGUSER:-postgres}"
suite="${PGVECTOR_SUITE:-trixie}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
shared="$here/../../../shared/tools/install-pgvector.sh"

# Tries the extension in a throwaway database so nothing is left behind in `postgres`.
vector_works() {
  local db="rampart_pgvector_probe_$$"
  psql -d postgres -qtAc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  psql -d postgres -v ON_ERROR_STOP=1 -qtAc "CREATE DATABASE $db" >/dev/null
  local rc=0
  psql -d "$db" -v ON_ERROR_STOP=1 -qtAc 'CREATE EXTENSION vector' >/dev/null 2>&1 || rc=$?
  psql -d postgres -qtAc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  return "$rc"
}

force="${PGVECTOR_FORCE_BUILD:-0}"
if [[ "$force" != 1 ]] && vector_works; then
  echo "pgvector: CREATE EXTENSION vector already works"
  exit 0
fi

if [[ "$force" != 1 && -x "$shared" ]]; then
  echo "pgvector: missing; running $shared"
  "$shared"
else
  echo "pgvector: building Debian's $suite source package"
  major="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
  pg_config="/usr/lib/postgresql/$major/bin/pg_config"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "postgresql-server-dev-$major" make gcc >/dev/null

  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # A private apt state with only the deb-src line, so the machine's sources stay untouched.
  mkdir -p "$work/lists/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$work/sources.list"
  apt_opts=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$work/lists"
    -o "APT::Sandbox::User=root" # the temp dir is root's; apt's _apt user could not write it
  )
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq pgvector)
  tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
  src="$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)"
  make -s -C "$src" PG_CONFIG="$pg_config" >/dev/null
  make -s -C "$src" PG_CONFIG="$pg_config" install >/dev/null

  # Installing the -server-dev package may upgrade and restart the cluster: bring it back.
  pg_ctlcluster --skip-systemctl-redirect "$major" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do pg_isready -q && break; sleep 1; done
fi

if vector_works; then
  echo "pgvector: installed; CREATE EXTENSION vector works"
else
  echo "pgvector: CREATE EXTENSION vector still fails after the install" >&2
  exit 1
fi
