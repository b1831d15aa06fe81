#!/usr/bin/env bash
# Tether on the bundled demo: builds `tether`, starts two HTTP fault servers (`tether chaos
# --http`), then runs `tether list` on examples/demo.mcp.json, which mixes healthy and broken
# servers of every kind. Extra arguments go to `tether list` (e.g. --json, --debug).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tether-cli
T="$PWD/target/release/tether"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# Starts `tether chaos --http 127.0.0.1:0 ARGS…` in the background (in this shell, so the trap
# can stop it) and sets $url to the URL it listens on.
serve() {
  local out="$tmp/server-${#pids[@]}"
  "$T" chaos --http 127.0.0.1:0 "$@" >"$out" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 200); do
    url=$(sed -n 's/^listening on //p' "$out")
    [ -n "$url" ] && return
    sleep 0.05
  done
  echo "demo: chaos server did not start" >&2
  exit 1
}

serve --fault require-auth:demo-token
DEMO_AUTH_URL=$url
serve --fault 'status:503@2'
DEMO_FLAKY_URL=$url
export DEMO_AUTH_URL DEMO_FLAKY_URL DEMO_WRONG_PATH_URL="${DEMO_FLAKY_URL%/mcp}/wrong"
export TETHER_BIN="$T"
status=0
"$T" list --config examples/demo.mcp.json "$@" || status=$?
exit "$status"
