#!/bin/sh
# Entrypoint of Rampart's image (deploy/Dockerfile), run under tini as PID 1. The same script
# runs outside Docker in test/deploy-image.test.ts, so it depends only on POSIX sh and node.
#
#   docker-entrypoint.sh serve|worker|migrate|backup|restore|audit ...   run a rampart command
#   docker-entrypoint.sh healthcheck                                      probe the running process
#   docker-entrypoint.sh <any other command>                              run it (debugging)
set -eu

# The application directory: this script lives in <app>/deploy/.
APP_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

healthcheck() {
  # GET RAMPART_HEALTHCHECK_URL (default: this process's /healthz); a worker points it at its
  # WORKER_METRICS_PORT /metrics, sending METRICS_TOKEN when one is configured.
  url="${RAMPART_HEALTHCHECK_URL:-http://127.0.0.1:${PORT:-8080}/healthz}"
  exec node -e '
    const fs = require("node:fs");
    const file = process.env.METRICS_TOKEN_FILE;
    const token = process.env.METRICS_TOKEN || (file ? fs.readFileSync(file, "utf8").trim() : "");
    const headers = token ? { authorization: "Bearer " + token } : {};
    fetch(process.argv[1], { headers, signal: AbortSignal.timeout(4000) }).then(
      (r) => process.exit(r.ok ? 0 : 1),
      () => process.exit(1),
    );
  ' "$url"
}

if [ "$#" -eq 0 ]; then
  set -- serve
fi

case "$1" in
  healthcheck)
    healthcheck
    ;;
  serve | worker | migrate | backup | restore | audit | help | --help | -h | --version)
    # The embedded database (no DATABASE_URL) keeps its files in RAMPART_DATA_DIR: a volume in
    # the image, since the root filesystem may be read-only.
    if [ -z "${DATABASE_URL:-}${DATABASE_URL_FILE:-}${DATABASE_ADMIN_URL:-}${DATABASE_ADMIN_URL_FILE:-}" ]; then
      data_dir="${RAMPART_DATA_DIR:-/var/lib/rampart}"
      mkdir -p "$data_dir" 2>/dev/null || true
      if [ ! -w "$data_dir" ]; then
        echo "rampart: RAMPART_DATA_DIR $data_dir is not writable by uid $(id -u): mount a volume there" >&2
        exit 2
      fi
    fi
    # exec: node replaces this shell, so tini's SIGTERM reaches it and it drains in-flight work.
    exec node "$APP_DIR/bin/rampart.js" "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
