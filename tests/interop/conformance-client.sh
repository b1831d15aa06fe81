#!/usr/bin/env bash
# Client for the conformance suite's CLIENT scenarios, driving the `tether` CLI.
# The suite runs `<command> <serverUrl>` through /bin/sh with MCP_CONFORMANCE_SCENARIO=<name>;
# run.sh passes `exec tests/interop/conformance-client.sh`, so on the suite's timeout its SIGTERM
# reaches this script, which passes it on to the tether process it is waiting for.
# Usage: TETHER=path/to/tether conformance-client.sh SERVER_URL
# What it does: `tether tools --url URL --json`, then for each tool
# `tether call --url URL --elicit accept-defaults --json TOOL ARGS`, ARGS built from the tool's
# inputSchema (number/integer -> 1, 2, ...; boolean -> true; anything else -> "x").
# Exit 0 when the listing and every call succeeded.
set -euo pipefail
url=${1:?usage: conformance-client.sh SERVER_URL}
tether=${TETHER:?set TETHER to the tether binary}
echo "scenario=${MCP_CONFORMANCE_SCENARIO:-?} url=$url"

child=""
tmp=$(mktemp -d)
# shellcheck disable=SC2317  # trap handlers
cleanup() { rm -rf "$tmp"; }
# shellcheck disable=SC2317
on_signal() {
  if [[ -n "$child" ]]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" || true; fi
  cleanup
  exit 143
}
trap cleanup EXIT
trap on_signal TERM INT HUP

# run CMD...: run CMD as a child we can pass signals on to; returns its exit code
run() {
  local rc=0
  "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  return "$rc"
}

run "$tether" tools --url "$url" --json >"$tmp/tools.json"
cat "$tmp/tools.json"

"${PYTHON:-python3}" - "$tmp/tools.json" >"$tmp/calls.tsv" <<'EOF'
import json, sys
for tool in json.load(open(sys.argv[1]))["tools"]:
    args, n = {}, 0
    for key, prop in ((tool.get("inputSchema") or {}).get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if kind in ("number", "integer"):
            n += 1
            args[key] = n
        elif kind == "boolean":
            args[key] = True
        else:
            args[key] = "x"
    print(f"{tool['name']}\t{json.dumps(args)}")
EOF

rc=0
while IFS=$'\t' read -r name args; do
  echo "call $name $args"
  run "$tether" call --url "$url" --elicit accept-defaults --timeout "${CALL_TIMEOUT:-10}" --json "$name" "$args" || rc=$?
  echo
done <"$tmp/calls.tsv"
exit "$rc"
