#!/usr/bin/env bash
# Runs the official MCP conformance suite against Rampart, both sides. Server scenarios: against
# `npm start` on an empty data directory with MCP_CONFORMANCE_FIXTURES=true, which serves the
# suite's fixture tools, resources and prompts at /mcp/conformance (test only; no tenant data,
# no authentication: the suite cannot send a credential). The suite needs Node 22; the node@22
# npm package provides it. Scenarios listed in docs/mcp-conformance-expected-failures.yml are
# allowed to fail (each with its reason); any other failure, or an expected failure that now
# passes, fails this script. Client scenarios: the suite starts each scenario's server and runs
# scripts/mcp-conformance-client.ts (Rampart's own MCP client and per-user OAuth code) against it,
# with docs/mcp-conformance-client-expected-failures.yml as that side's baseline.
# Usage: bash scripts/mcp-conformance.sh [port]
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONFORMANCE_VERSION=0.1.16
port="${1:-18199}"
work="$(mktemp -d)"
log="$work/server.log"
RAMPART_DATA_DIR="$work/data" PORT="$port" HOST=127.0.0.1 MCP_CONFORMANCE_FIXTURES=true \
  setsid node bin/rampart.js serve >"$log" 2>&1 </dev/null &
pid=$!
stop() { kill -TERM -- "-$pid" 2>/dev/null || true; }
trap 'rc=$?; stop; [[ $rc -eq 0 ]] || { echo "--- server log (tail):" >&2; tail -n 40 "$log" >&2; }; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)" == 200 ]] && break
  kill -0 "$pid" 2>/dev/null || { echo "rampart exited before /readyz answered" >&2; exit 1; }
  sleep 0.2
done
expected=docs/mcp-conformance-expected-failures.yml
args=(--url "http://127.0.0.1:$port/mcp/conformance")
[[ -s "$expected" ]] && args+=(--expected-failures "$expected")
npx -y -p node@22 -p "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" -- \
  conformance server "${args[@]}"

# The client side (MCP_CONFORMANCE_CLIENT=0 skips it, e.g. to rerun only the server side).
[[ "${MCP_CONFORMANCE_CLIENT:-1}" == 1 ]] || exit 0
client_expected=docs/mcp-conformance-client-expected-failures.yml
client_args=(--suite all --timeout 60000)
[[ -s "$client_expected" ]] && client_args+=(--expected-failures "$client_expected")
npx -y -p node@22 -p "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" -- \
  conformance client --command "$PWD/node_modules/.bin/tsx $PWD/scripts/mcp-conformance-client.ts" \
  "${client_args[@]}"
