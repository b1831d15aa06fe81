#!/usr/bin/env bash
# Tether's interop harness: Tether against MCP software nobody here wrote.
# Usage: tests/interop/run.sh [SECTION...]        (default: every section, in this order)
#   Sections: client       tether tools / tether call against server-everything (stdio,
#                          Streamable HTTP, SSE), Python SDK servers (mcp 2.x and 1.x; stdio and
#                          Streamable HTTP) and mcp-server-time (stdio)
#             list         tether list (--json and text) on a config holding all of the above
#             conformance  the official conformance suite, CLIENT mode, driving tether
#             doctor       tether doctor --json against all of the above (+ one wrong URL path)
#             gateway      tether serve in front of server-everything (stdio), the Python 2.x server
#                          (HTTP) and mcp-server-time (stdio), driven through its stdio and HTTP
#                          fronts by the MCP Inspector CLI, the Python SDK client and Claude Code;
#                          the conformance suite in SERVER mode through tether serve --no-prefix
#                          in front of tether chaos --conformance
#             page         the gateway's status page in headless Chromium (Playwright): it renders
#                          the upstreams and updates when one crashes
# Prints one line per check (`ok   NAME (time)` / `FAIL NAME (time): reason` + the output that
# matters), then `interop: N passed, M failed`; exits 1 if any check failed, 2 on a usage or
# installation error.
# Needs tests/interop/setup.sh to have been run (it checks, and says so).
# Environment:
#   TETHER=path                tether binary to test (default: `cargo build --release -p tether-cli`)
#   TETHER_INTEROP_DIR         where setup.sh installed the peers (default ~/.cache/tether-interop)
#   INTEROP_TIMEOUT            bound on the whole run, seconds (default 600)
#   INTEROP_CHECK_TIMEOUT      bound on one command, seconds (default 60)
#   INTEROP_KEEP=1             keep the work directory (logs, outputs) even when all passed
# Every process the run starts carries TETHER_INTEROP_MARK in its environment; the run kills the
# servers it started on exit, then fails if any marked process is still alive (an orphan, e.g. a
# stdio server that tether did not reap).
#
# Adding a section: write `section_NAME` (use expect / run_cmd + verdict / need_servers) and add
# NAME to ALL_SECTIONS.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_SECTIONS=(client list conformance doctor gateway page)
RUN_TIMEOUT=${INTEROP_TIMEOUT:-600}
CHECK_TIMEOUT=${INTEROP_CHECK_TIMEOUT:-60}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

SECTIONS=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    *)
      if [[ " ${ALL_SECTIONS[*]} " == *" $arg "* ]]; then
        SECTIONS+=("$arg")
      else
        echo "run.sh: unknown section '$arg' (sections: ${ALL_SECTIONS[*]})" >&2
        exit 2
      fi
      ;;
  esac
done
(( ${#SECTIONS[@]} > 0 )) || SECTIONS=("${ALL_SECTIONS[@]}")

# ---- prerequisites (outside the run's time bound) -----------------------------------------------
if [[ -z "${TETHER_INTEROP_INNER:-}" ]]; then
  if ! installed_ok; then
    echo "run.sh: the peers are not installed (or the lockfiles changed): run tests/interop/setup.sh" >&2
    exit 2
  fi
  if [[ -z "${TETHER:-}" ]]; then
    # Builds only what changed; a cold release build takes minutes on 2 cores (BUILD_TIMEOUT).
    build_log="${TMPDIR:-/tmp}/tether-interop-build.$$.log"
    t0=$(date +%s)
    if (cd "$REPO_ROOT" && timeout "${BUILD_TIMEOUT:-1200}" cargo build --release -p tether-cli) \
      >"$build_log" 2>&1 </dev/null; then
      TETHER="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tether"
      echo "--   tether: $TETHER (cargo build --release -p tether-cli: $(( $(date +%s) - t0 ))s)"
      rm -f "$build_log"
    else
      echo "FAIL build tether: cargo build --release -p tether-cli failed (log: $build_log)"
      tail -n 30 "$build_log" | sed 's/^/     | /'
      echo "interop: 0 passed, 1 failed"
      exit 1
    fi
  else
    echo "--   tether: $TETHER (from TETHER)"
  fi
  [[ -x "$TETHER" ]] || { echo "run.sh: TETHER=$TETHER is not an executable" >&2; exit 2; }
  TETHER=$(cd "$(dirname "$TETHER")" && pwd)/$(basename "$TETHER")
  export TETHER
fi

# ---- whole-run bound: run this script again under `timeout` -------------------------------------
if [[ -z "${TETHER_INTEROP_INNER:-}" ]]; then
  export TETHER_INTEROP_INNER=1
  rc=0
  # On expiry, or when this outer script gets INT/TERM/HUP (passed on by `timeout`), the inner
  # run gets SIGTERM and its trap stops every process it started; --kill-after is the last resort.
  timeout --foreground --kill-after=30 "$RUN_TIMEOUT" "${BASH_SOURCE[0]}" "${SECTIONS[@]}" &
  inner=$!
  trap 'kill -TERM "$inner" 2>/dev/null || true' INT TERM HUP
  while :; do
    rc=0
    wait "$inner" || rc=$?
    kill -0 "$inner" 2>/dev/null || break   # a trapped signal interrupted `wait`: wait again
  done
  if (( rc == 124 )); then
    echo "FAIL run.sh: the whole run exceeded INTEROP_TIMEOUT=${RUN_TIMEOUT}s and was stopped"
  fi
  exit "$rc"
fi

# ---- state ----------------------------------------------------------------------------------------
START_NS=$(date +%s%N)
export TETHER_INTEROP_MARK="run-$$-$START_NS"
W=$(mktemp -d "${TMPDIR:-/tmp}/tether-interop.XXXXXX")
mkdir -p "$W/logs" "$W/out" "$W/cwd"
PASS=0
FAILED=()
NCHECK=0
BG_PIDS=()        # servers started in the background (each leads its own session/process group)
CUR_PID=""        # the command of the check in flight
declare -A URL=()
declare -A BG_OF=()

export PATH="$NODE22_BIN:$NODE_BIN_DIR:$PATH"
export PYTHON="${PYTHON:-python3}"
# every server here is on loopback: never through a proxy (httpx, curl and tether honour *_PROXY)
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1fs", (b - a) / 1e9 }'; }
indent() { sed 's/^/     | /'; }

pass() { # NAME ELAPSED
  PASS=$((PASS + 1))
  printf 'ok   %s (%s)\n' "$1" "$2"
}
fail() { # NAME ELAPSED REASON [DETAIL-FILE]
  FAILED+=("$1")
  printf 'FAIL %s (%s): %s\n' "$1" "$2" "$3"
  if [[ -n "${4:-}" && -s "$4" ]]; then indent <"$4"; fi
}

# ---- running commands -----------------------------------------------------------------------------
# run_cmd CMD...: run CMD in $W/cwd, bounded by CHECK_TIMEOUT, stdin closed; stdout/stderr to
# $OUT/$ERR, exit code in $RC, its duration in $TOOK. Runs in the background and waits, so a signal
# to this script is handled at once (the trap then stops the command).
run_cmd() {
  NCHECK=$((NCHECK + 1))
  OUT="$W/out/$NCHECK.stdout"
  ERR="$W/out/$NCHECK.stderr"
  printf '%q ' "$@" >"$W/out/$NCHECK.cmd"
  RC=0
  local t0
  t0=$(now_ns)
  (cd "$W/cwd" && exec timeout --kill-after=5 "$CHECK_TIMEOUT" "$@") >"$OUT" 2>"$ERR" </dev/null &
  CUR_PID=$!
  wait "$CUR_PID" || RC=$?
  CUR_PID=""
  TOOK=$(secs_since "$t0")
}

# verdict NAME WANT_RC EXPR [CONFORMANCE_DIR]: judge the last run_cmd (see check.py for EXPR)
verdict() {
  local name=$1 want=$2 expr=$3 conf=${4:-} elapsed=$TOOK detail
  detail="$W/out/$NCHECK.verdict"
  if "$PYTHON" "$INTEROP_SRC/check.py" "$OUT" "$ERR" "$RC" "$want" "$expr" "$conf" >"$detail" 2>&1; then
    pass "$name" "$elapsed"
  else
    { echo "command: $(cat "$W/out/$NCHECK.cmd")"; tail -n +2 "$detail"; } >"$detail.full"
    fail "$name" "$elapsed" "$(head -n 1 "$detail")" "$detail.full"
  fi
}

# expect NAME WANT_RC EXPR CMD...: run_cmd CMD, then verdict
expect() {
  local name=$1 want=$2 expr=$3
  shift 3
  run_cmd "$@"
  verdict "$name" "$want" "$expr"
}

# ---- background servers ---------------------------------------------------------------------------
# start_bg KEY LOG CMD...: start CMD in its own session (so its whole process group can be stopped)
start_bg() {
  local key=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  BG_PIDS+=("$!")
  BG_OF[$key]=$!
}

# need_servers KEY...: make sure these HTTP servers run (all started first, then waited for);
# sets URL[KEY]. Each start is a check. Keys: ev-http ev-sse py2-http py1-http
need_servers() {
  local key port t0 pending=() ports=() paths=() i
  t0=$(now_ns)
  for key in "$@"; do
    [[ -n "${URL[$key]:-}" || -n "${BG_OF[$key]:-}" ]] && continue
    port=$(free_port)
    case "$key" in
      ev-http) start_bg "$key" "$W/logs/$key.log" env PORT="$port" mcp-server-everything streamableHttp; paths+=(/mcp) ;;
      ev-sse) start_bg "$key" "$W/logs/$key.log" env PORT="$port" mcp-server-everything sse; paths+=(/sse) ;;
      py2-http) start_bg "$key" "$W/logs/$key.log" "$PY2" "$INTEROP_SRC/servers/py_server.py" streamable-http "$port"; paths+=(/mcp) ;;
      py1-http) start_bg "$key" "$W/logs/$key.log" "$PY1" "$INTEROP_SRC/servers/py_server.py" streamable-http "$port"; paths+=(/mcp) ;;
      *) echo "need_servers: unknown server $key" >&2; exit 2 ;;
    esac
    pending+=("$key")
    ports+=("$port")
  done
  for i in "${!pending[@]}"; do
    key=${pending[$i]}
    port=${ports[$i]}
    if wait_port "$port" 30 "${BG_OF[$key]}" && kill -0 "${BG_OF[$key]}" 2>/dev/null; then
      URL[$key]="http://127.0.0.1:$port${paths[$i]}"
      pass "start $key on 127.0.0.1:$port" "$(secs_since "$t0")"
    else
      fail "start $key on 127.0.0.1:$port" "$(secs_since "$t0")" "did not listen within 30s (log below)" "$W/logs/$key.log"
    fi
  done
  for key in "$@"; do [[ -n "${URL[$key]:-}" ]] || return 1; done
}

# ---- cleanup, orphan check, summary -----------------------------------------------------------------
# marked_procs [SID...]: "PID CMDLINE" of every live process carrying our TETHER_INTEROP_MARK (except
# us), leaving out the processes of the given sessions (a server started by start_bg leads its own
# session, and the stdio servers it spawns stay in it even in process groups of their own)
marked_procs() {
  env -u TETHER_INTEROP_MARK "$PYTHON" - "$TETHER_INTEROP_MARK" "$$" "$@" <<'EOF'
import os, sys
mark, me, skip = ("TETHER_INTEROP_MARK=" + sys.argv[1]).encode(), sys.argv[2], set(sys.argv[3:])
for pid in filter(str.isdigit, os.listdir("/proc")):
    if pid in (me, str(os.getpid())):
        continue
    try:
        if mark not in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"):
            continue
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        stat = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()  # state ppid pgrp session ...
    except OSError:
        continue
    if stat[0] != "Z" and stat[3] not in skip:
        print(pid, cmd.strip())
EOF
}

# no_strays NAME: a check that nothing this run started is left running, apart from the background
# servers (and what they spawned). Gives dying processes up to 5 s; kills (by PID) what is left.
no_strays() {
  local name="$1: no leftover processes" t0 left pid detail="$W/out/strays.$NCHECK"
  t0=$(now_ns)
  while :; do
    left=$(marked_procs "${BG_PIDS[@]}")
    [[ -z "$left" ]] && break
    if (( $(now_ns) - t0 > 5000000000 )); then
      printf '%s\n' "$left" >"$detail"
      fail "$name" "$(secs_since "$t0")" "$(wc -l <"$detail") process(es) still alive 5s after the client exited (killed now)" "$detail"
      while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done <"$detail"
      return
    fi
    sleep 0.1   # polling for exit
  done
  pass "$name" "$(secs_since "$t0")"
}

# stop_groups PID...: TERM each process group, wait up to 5 s, then KILL what is left
stop_groups() {
  local pid deadline alive
  for pid in "$@"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$(( $(now_ns) + 5000000000 ))
  while :; do
    alive=()
    for pid in "$@"; do kill -0 -- "-$pid" 2>/dev/null && alive+=("$pid"); done
    (( ${#alive[@]} == 0 )) && break
    if (( $(now_ns) > deadline )); then
      for pid in "${alive[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
      break
    fi
    sleep 0.05   # polling for exit
  done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
finish() {
  local rc=$? t0 left
  trap - EXIT INT TERM HUP
  if [[ -n "$CUR_PID" ]]; then stop_groups "$CUR_PID"; fi
  if (( ${#BG_PIDS[@]} > 0 )); then stop_groups "${BG_PIDS[@]}"; fi
  # Anything still marked is an orphan: give dying processes up to 5 s, then report and kill.
  t0=$(now_ns)
  while :; do
    left=$(marked_procs)
    [[ -z "$left" ]] && break
    if (( $(now_ns) - t0 > 5000000000 )); then
      printf '%s\n' "$left" >"$W/logs/orphans.txt"
      fail "no leftover processes" "$(secs_since "$t0")" \
        "$(wc -l <"$W/logs/orphans.txt") process(es) started by this run still alive (killed now)" "$W/logs/orphans.txt"
      while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done <"$W/logs/orphans.txt"
      break
    fi
    sleep 0.1   # polling for exit
  done
  if [[ -z "$left" ]]; then pass "no leftover processes" "$(secs_since "$t0")"; fi
  echo
  if (( ${#FAILED[@]} > 0 )); then
    echo "failed checks:"
    printf '  %s\n' "${FAILED[@]}"
  fi
  printf 'interop: %d passed, %d failed  (sections: %s; %s)\n' "$PASS" "${#FAILED[@]}" "${SECTIONS[*]}" "$(secs_since "$START_NS")"
  if (( ${#FAILED[@]} > 0 )) || [[ -n "${INTEROP_KEEP:-}" ]] || (( rc != 0 )); then
    echo "work directory kept: $W"
  else
    rm -rf "$W"
  fi
  if (( ${#FAILED[@]} > 0 )); then exit 1; fi
  exit "$rc"
}
trap finish EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM HUP

# ---- the peers ------------------------------------------------------------------------------------
EV="$NODE_BIN_DIR/mcp-server-everything"
PYSERVER="$INTEROP_SRC/servers/py_server.py"
TIME_SERVER="$INTEROP_DIR/py2/bin/mcp-server-time"

# ---- pinned facts about the peers -----------------------------------------------------------------
# server-everything 2026.8.31 always lists 13 tools, and registers get-roots-list after initialize
# because tether declares the `roots` capability: 14. (It would add trigger-elicitation-request /
# trigger-sampling-request / task tools for clients declaring elicitation / sampling / tasks.)
EV_TOOLS=14
PY_TOOLS='["add", "fail", "slow"]'       # servers/py_server.py
TIME_TOOLS='["convert_time", "get_current_time"]'

# ---- section: client ------------------------------------------------------------------------------
# everything_checks LABEL PRE... [-- CMD...]: the server-everything checks against one target.
# Target: `--url URL [--sse]` (goes before the tool) or `-- CMD ARGS` (must come last).
everything_checks() {
  local label=$1 pre=() post=()
  shift
  while (( $# > 0 )) && [[ "$1" != -- ]]; do pre+=("$1"); shift; done
  post=("$@")
  expect "$label: tools --json lists the $EV_TOOLS tools" 0 \
    "len(tools) == $EV_TOOLS and {'echo', 'get-sum', 'get-structured-content'} <= set(tools) and \
set([t for t in j['tools'] if t['name'] == 'get-sum'][0]['inputSchema']['properties']) == {'a', 'b'}" \
    "$TETHER" tools --json "${pre[@]}" "${post[@]}"
  expect "$label: call echo (text output)" 0 \
    "out.strip() == 'Echo: héllo interop ✓'" \
    "$TETHER" call "${pre[@]}" echo '{"message":"héllo interop ✓"}' "${post[@]}"
  expect "$label: call get-sum 19+23" 0 \
    "text == 'The sum of 19 and 23 is 42.' and not j.get('isError')" \
    "$TETHER" call --json "${pre[@]}" get-sum '{"a":19,"b":23}' "${post[@]}"
  expect "$label: call get-structured-content" 0 \
    "isinstance(j['structuredContent']['temperature'], (int, float)) and json.loads(text) == j['structuredContent']" \
    "$TETHER" call --json "${pre[@]}" get-structured-content '{"location":"New York"}' "${post[@]}"
  expect "$label: unknown tool -> isError, exit 1" 1 \
    "j['isError'] is True and 'Tool no-such-tool not found' in text" \
    "$TETHER" call --json "${pre[@]}" no-such-tool '{}' "${post[@]}"
  expect "$label: invalid arguments -> isError, exit 1" 1 \
    "j['isError'] is True and 'Input validation error' in text" \
    "$TETHER" call --json "${pre[@]}" get-sum '{"a":2}' "${post[@]}"
}

# py_checks LABEL MAJOR PRE... [-- CMD...]: the checks of servers/py_server.py on one target
py_checks() {
  local label=$1 major=$2 pre=() post=() sdk
  shift 2
  while (( $# > 0 )) && [[ "$1" != -- ]]; do pre+=("$1"); shift; done
  post=("$@")
  sdk=$(if [[ "$major" == 2 ]]; then echo "mcp 2.x MCPServer"; else echo "mcp 1.x FastMCP"; fi)
  expect "$label: tools --json lists add, fail, slow ($sdk)" 0 \
    "sorted(tools) == $PY_TOOLS and \
sorted([t for t in j['tools'] if t['name'] == 'add'][0]['inputSchema']['required']) == ['a', 'b']" \
    "$TETHER" tools --json "${pre[@]}" "${post[@]}"
  expect "$label: call add 20+22 (text + structuredContent)" 0 \
    "text == '42' and j.get('structuredContent') == {'result': 42} and not j.get('isError')" \
    "$TETHER" call --json "${pre[@]}" add '{"a":20,"b":22}' "${post[@]}"
  expect "$label: call add, text output" 0 \
    "out.strip() == '42'" \
    "$TETHER" call "${pre[@]}" add '{"a":40,"b":2}' "${post[@]}"
  local fail_expr="j['isError'] is True and text.startswith('Error executing tool fail')"
  # mcp 1.x appends the exception's message; 2.x hides it
  [[ "$major" == 1 ]] && fail_expr+=" and 'kaboom' in text"
  expect "$label: call fail -> isError, exit 1" 1 "$fail_expr" \
    "$TETHER" call --json "${pre[@]}" fail '{"message":"kaboom"}' "${post[@]}"
}

# sigterm_check LABEL: `tether call slow` on a stdio py_server; once the server is inside the tool
# (it writes its PID to $INTEROP_SLOW_STARTED), SIGTERM tether. Tether must exit, and its stdio
# server must be gone within 5 s (a supervisor's `timeout`/`kill` must not leave servers behind).
sigterm_check() {
  local name="$1: SIGTERM to tether call stops its stdio server" t0 tp marker pid="" rc=0 why=""
  local detail="$W/out/sigterm.detail"
  marker="$W/cwd/slow-started.$RANDOM"
  t0=$(now_ns)
  (cd "$W/cwd" && INTEROP_SLOW_STARTED="$marker" exec "$TETHER" call slow '{"seconds":30}' -- "$PY2" "$PYSERVER") \
    >"$W/out/sigterm.stdout" 2>"$W/out/sigterm.stderr" </dev/null &
  tp=$!
  if ! poll_until 20 test -s "$marker"; then
    why="the server never started the tool call (20s)"
  else
    pid=$(cat "$marker")
    kill -TERM "$tp" 2>/dev/null || true
    if ! poll_until 5 gone "$tp"; then
      why="tether still running 5s after SIGTERM"
    elif ! poll_until 5 gone "$pid"; then
      why="tether exited but its stdio server (pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)) is still alive 5s later (parent: $(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' '))"
    fi
  fi
  kill -KILL "$tp" 2>/dev/null || true
  wait "$tp" 2>/dev/null || rc=$?
  if [[ -n "$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi   # not left to the orphan check
  if [[ -z "$why" ]]; then
    pass "$name" "$(secs_since "$t0")"
  else
    {
      echo "command: INTEROP_SLOW_STARTED=$marker $TETHER call slow '{\"seconds\":30}' -- $PY2 $PYSERVER; then kill -TERM <tether>"
      echo "tether exit status: $rc"
      echo "--- stderr:"; head -n 20 "$W/out/sigterm.stderr"
    } >"$detail"
    fail "$name" "$(secs_since "$t0")" "$why" "$detail"
  fi
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# poll_until SECONDS CMD...: run CMD every 50 ms until it succeeds (0) or SECONDS pass (1)
poll_until() {
  local deadline=$(( $(now_ns) + $1 * 1000000000 ))
  shift
  until "$@"; do
    (( $(now_ns) < deadline )) || return 1
    sleep 0.05   # polling interval
  done
}

section_client() {
  everything_checks "client/everything-stdio" -- "$EV" stdio
  if need_servers ev-http; then everything_checks "client/everything-http" --url "${URL[ev-http]}"; fi
  if need_servers ev-sse; then everything_checks "client/everything-sse" --url "${URL[ev-sse]}" --sse; fi

  py_checks "client/py-v2-stdio" 2 -- "$PY2" "$PYSERVER"
  sigterm_check "client/py-v2-stdio"
  if need_servers py2-http; then py_checks "client/py-v2-http" 2 --url "${URL[py2-http]}"; fi
  py_checks "client/py-v1-stdio" 1 -- "$PY1" "$PYSERVER"
  if need_servers py1-http; then py_checks "client/py-v1-http" 1 --url "${URL[py1-http]}"; fi

  expect "client/time-stdio: tools --json lists get_current_time, convert_time" 0 \
    "sorted(tools) == $TIME_TOOLS" \
    "$TETHER" tools --json -- "$TIME_SERVER"
  expect "client/time-stdio: call get_current_time UTC" 0 \
    "j['structuredContent']['timezone'] == 'UTC' and \
abs((datetime.datetime.now(timezone.utc) - datetime.datetime.fromisoformat(j['structuredContent']['datetime'])).total_seconds()) < 300 \
and json.loads(text) == j['structuredContent']" \
    "$TETHER" call --json get_current_time '{"timezone":"UTC"}' -- "$TIME_SERVER"
  expect "client/time-stdio: call convert_time 12:00 UTC -> Asia/Tokyo" 0 \
    "j['structuredContent']['target']['datetime'][11:16] == '21:00' and j['structuredContent']['time_difference'] == '+9.0h'" \
    "$TETHER" call --json convert_time '{"source_timezone":"UTC","time":"12:00","target_timezone":"Asia/Tokyo"}' -- "$TIME_SERVER"
  expect "client/time-stdio: bad timezone -> isError, exit 1" 1 \
    "j['isError'] is True and 'Invalid timezone' in text" \
    "$TETHER" call --json get_current_time '{"timezone":"Mars/Olympus_Mons"}' -- "$TIME_SERVER"
}

# ---- section: list --------------------------------------------------------------------------------
section_list() {
  need_servers ev-http ev-sse py2-http py1-http || true   # a missing server fails its lines below
  local cfg="$W/list.mcp.json"
  local none=http://127.0.0.1:1/not-started
  "$PYTHON" - "$cfg" "$EV" "$PY2" "$PY1" "$PYSERVER" "$TIME_SERVER" "${URL[ev-http]:-$none}" \
    "${URL[ev-sse]:-$none}" "${URL[py2-http]:-$none}" "${URL[py1-http]:-$none}" <<'EOF'
import json, sys
cfg, ev, py2, py1, pyserver, time_server, ev_http, ev_sse, py2_http, py1_http = sys.argv[1:]
servers = {
    "everything-stdio": {"command": ev, "args": ["stdio"]},
    "everything-http": {"type": "http", "url": ev_http},
    "everything-sse": {"type": "sse", "url": ev_sse},
    "py-v2-stdio": {"command": py2, "args": [pyserver]},
    "py-v2-http": {"type": "http", "url": py2_http},
    "py-v1-stdio": {"command": py1, "args": [pyserver], "env": {"INTEROP_EXAMPLE": "1"}},
    "py-v1-http": {"type": "http", "url": py1_http},
    "time-stdio": {"command": time_server, "args": ["--local-timezone", "UTC"]},
}
json.dump({"mcpServers": servers}, open(cfg, "w"), indent=2)
EOF
  # name transport tools server_info.name
  local expected=(
    "everything-stdio stdio $EV_TOOLS mcp-servers/everything"
    "everything-http http $EV_TOOLS mcp-servers/everything"
    "everything-sse sse $EV_TOOLS mcp-servers/everything"
    "py-v2-stdio stdio 3 interop-py-v2"
    "py-v2-http http 3 interop-py-v2"
    "py-v1-stdio stdio 3 interop-py-v1"
    "py-v1-http http 3 interop-py-v1"
    "time-stdio stdio 2 mcp-time"
  )
  local e name transport count info
  run_cmd "$TETHER" list --config "$cfg" --json
  verdict "list: --json exits 0 with all ${#expected[@]} servers" 0 "len(servers) == ${#expected[@]}"
  for e in "${expected[@]}"; do
    read -r name transport count info <<<"$e"
    verdict "list: $name connected, $count tools ($transport)" 0 \
      "(lambda s: s['state'] == 'connected' and s['tools'] == $count and s['transport'] == '$transport' \
and s['server_info']['name'] == '$info' and s['tools_capability'] is True and bool(s['protocol_version']) \
and s['error'] is None)(servers['$name'])"
  done
  expect "list: text output, one '✔ Connected · N tools' line per server" 0 \
    "all(any(l.startswith(n + ': ') and '✔ Connected · %d tools' % c in l for l in out.splitlines()) \
for n, c in [$(for e in "${expected[@]}"; do read -r name _ count _ <<<"$e"; printf "('%s', %s), " "$name" "$count"; done)]) \
and len(out.strip().splitlines()) == ${#expected[@]}" \
    "$TETHER" list --config "$cfg"
}

# ---- section: conformance -------------------------------------------------------------------------
# Official suite, CLIENT mode: it starts a scenario server and runs
#   exec tests/interop/conformance-client.sh <serverUrl>
# Each scenario: exit 0, no FAILURE/WARNING check, and at least the pinned number of SUCCESS checks.
CONFORMANCE_SCENARIOS=(
  "initialize 1"
  "tools_call 1"
  "sse-retry 3"
  "elicitation-sep1034-client-defaults 5"
)
section_conformance() {
  local e scenario min dir client result
  client="exec $(printf '%q' "$INTEROP_SRC/conformance-client.sh")"
  for e in "${CONFORMANCE_SCENARIOS[@]}"; do
    read -r scenario min <<<"$e"
    dir="$W/conformance/$scenario"
    mkdir -p "$dir"
    run_cmd conformance client --command "$client" --scenario "$scenario" --timeout 20000 -o "$dir"
    # results land in DIR/<scenario>-<timestamp>/
    result=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    verdict "conformance: $scenario ($min checks)" 0 "passed($min)" "${result:-$dir}"
  done
}

# ---- section: doctor ------------------------------------------------------------------------------
# `tether doctor --json` against every peer: verdict `healthy`, exit 0, every phase ok, no finding
# above `info`, the right tool count and server name. On failure the verdict, every finding (code,
# severity, message, hint) and the failed phase are printed.
# A peer that really behaves the way a finding says (verified by hand against the peer and its
# source; see README "doctor") is pinned here instead: its check wants verdict `degraded`, exit 1,
# and EXACTLY these warnings, no more, no fewer. Empty the entry to require `healthy` again.
declare -A DOCTOR_KNOWN=(
  # server-everything 2026.8.31 streamableHttp (dist/transports/streamableHttp.js):
  #  - origin_not_validated: `cors({origin: "*"})` and a StreamableHTTPServerTransport created without
  #    enableDnsRebindingProtection / allowedOrigins (TS SDK 1.32.2 default: off); curl: POST
  #    initialize with `Origin: https://evil.example.com` -> 200 + mcp-session-id. (It also fails the
  #    conformance scenario dns-rebinding-protection.) MCP 2025-06-18+: servers MUST validate Origin.
  #  - unknown_session_status: an unknown Mcp-Session-Id gets `res.status(400)` "Bad Request: No
  #    valid session ID provided"; curl: 400. The spec wants 404 for a session the server does not
  #    know, which is what makes clients re-initialize.
  [everything-http]="origin_not_validated unknown_session_status"
)

# doctor_check LABEL TOOLS SERVER_NAME TARGET...: one `tether doctor --json TARGET...`
doctor_check() {
  local label=$1 ntools=$2 info=$3 known codes name verdict_expr rc
  shift 3
  known=${DOCTOR_KNOWN[$label]:-}
  codes="[$(for c in $known; do printf "'%s', " "$c"; done)]"
  if [[ -z "$known" ]]; then
    name="doctor/$label: healthy, exit 0"
    verdict_expr="j['verdict'] == 'healthy' and j['layer'] == 'none'"
    rc=0
  else
    name="doctor/$label: degraded by exactly its verified findings ($known), exit 1"
    verdict_expr="j['verdict'] == 'degraded' and all(findings[c] == 'warning' for c in $codes)"
    rc=1
  fi
  expect "$name" "$rc" \
    "$verdict_expr and sorted(c for c, s in findings.items() if s != 'info') == sorted($codes) \
and all(p['ok'] for p in j['phases']) and j['tools'] == $ntools and j['server_info']['name'] == '$info'" \
    "$TETHER" doctor --json "$@"
}

section_doctor() {
  need_servers ev-http ev-sse py2-http py1-http || true   # a server that did not start is a FAIL already
  doctor_check everything-stdio "$EV_TOOLS" mcp-servers/everything -- "$EV" stdio
  if [[ -n "${URL[ev-http]:-}" ]]; then
    doctor_check everything-http "$EV_TOOLS" mcp-servers/everything --url "${URL[ev-http]}"
  fi
  if [[ -n "${URL[ev-sse]:-}" ]]; then
    doctor_check everything-sse "$EV_TOOLS" mcp-servers/everything --url "${URL[ev-sse]}" --sse
  fi
  doctor_check py-v2-stdio 3 interop-py-v2 -- "$PY2" "$PYSERVER"
  if [[ -n "${URL[py2-http]:-}" ]]; then doctor_check py-v2-http 3 interop-py-v2 --url "${URL[py2-http]}"; fi
  doctor_check py-v1-stdio 3 interop-py-v1 -- "$PY1" "$PYSERVER"
  if [[ -n "${URL[py1-http]:-}" ]]; then doctor_check py-v1-http 3 interop-py-v1 --url "${URL[py1-http]}"; fi
  doctor_check time-stdio 2 mcp-time -- "$TIME_SERVER" --local-timezone UTC
  # negative: a wrong path on a live server (Express answers 404 with its HTML error page)
  if [[ -n "${URL[ev-http]:-}" ]]; then
    expect "doctor/wrong-path: broken, finding http_not_found, exit 1" 1 \
      "j['verdict'] == 'broken' and j['layer'] == 'http' and findings.get('http_not_found') == 'error' \
and [p['name'] for p in j['phases'] if not p['ok']] == ['http'] and j['phases'][-1]['http']['status'] == 404" \
      "$TETHER" doctor --json --url "${URL[ev-http]%/mcp}/wrong"
  fi
}

# ---- section: gateway -----------------------------------------------------------------------------
# `tether serve` in front of real upstreams, driven by real clients through both fronts.
# server-everything's tools: these 12 always, plus some of GW_EV_COND depending on the client
# capabilities the gateway declares upstream (roots, elicitation, sampling, tasks).
GW_EV_BASE="['echo', 'get-annotated-message', 'get-env', 'get-resource-links', 'get-resource-reference', \
'get-structured-content', 'get-sum', 'get-tiny-image', 'gzip-file-as-resource', 'toggle-simulated-logging', \
'toggle-subscriber-updates', 'trigger-long-running-operation']"
GW_EV_COND="['get-roots-list', 'trigger-elicitation-request', 'trigger-url-elicitation', 'trigger-sampling-request', \
'simulate-research-query', 'trigger-elicitation-request-async', 'trigger-sampling-request-async']"
GW_EV_N=""   # everything's tool count as /status reports it (set by section_gateway)

# gw_tools_expr NAMES_EXPR: the Python check of a gateway tool listing (names <server>__<tool>)
gw_tools_expr() {
  echo "(lambda n: (lambda by: len(n) == len(set(n)) and set(by) == {'everything', 'py2', 'time'} \
and by['py2'] == {'add', 'fail', 'slow'} and by['time'] == {'get_current_time', 'convert_time'} \
and set($GW_EV_BASE) <= by['everything'] <= set($GW_EV_BASE + $GW_EV_COND) and len(by['everything']) == ${GW_EV_N:-0} \
and all(re.fullmatch('[A-Za-z0-9_-]{1,64}', x) for x in n))\
({s: {x.split('__', 1)[1] for x in n if x.split('__', 1)[0] == s} for s in {x.split('__', 1)[0] for x in n}}))($1)"
}

# start_gateway KEY CONFIG SERVERS [ARGS...]: `tether serve --config CONFIG --http 127.0.0.1:0 ARGS`
# in the background; waits (bounded) for its `serving MCP on http://127.0.0.1:PORT/mcp` line, then
# for /status to show SERVERS upstreams connected. Sets URL[KEY] (the /mcp URL) on success.
start_gateway() {
  local key=$1 cfg=$2 n=$3 log="$W/logs/$1.log" t0 port="" pid
  shift 3
  t0=$(now_ns)
  start_bg "$key" "$log" "$TETHER" serve --config "$cfg" --http 127.0.0.1:0 "$@"
  pid=${BG_OF[$key]}
  poll_until 30 gw_listening "$log" "$pid" || true
  port=$(sed -n 's|^tether: serving MCP on http://127\.0\.0\.1:\([0-9]*\)/mcp .*|\1|p' "$log" | head -n 1)
  if [[ -z "$port" ]]; then
    fail "start $key (tether serve --http 127.0.0.1:0)" "$(secs_since "$t0")" \
      "no 'tether: serving MCP on http://127.0.0.1:PORT/mcp' line on stderr within 30s$(gone "$pid" && echo '; it exited')" "$log"
    return 1
  fi
  if ! poll_until 30 gw_status_ready "http://127.0.0.1:$port/status" "$n"; then
    { echo "--- GET /status:"; curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$port/status" || true
      echo; echo "--- log:"; tail -n 20 "$log"; } >"$W/out/$key.start"
    fail "start $key on 127.0.0.1:$port" "$(secs_since "$t0")" "/status did not show $n upstreams connected within 30s" "$W/out/$key.start"
    return 1
  fi
  URL[$key]="http://127.0.0.1:$port/mcp"
  pass "start $key on 127.0.0.1:$port ($n upstreams connected)" "$(secs_since "$t0")"
}
gw_listening() { grep -q '^tether: serving MCP on ' "$1" || gone "$2"; }
gw_status_ready() {
  curl -s --noproxy '*' --max-time 2 "$1" 2>/dev/null | "$PYTHON" -c '
import json, sys
s = json.load(sys.stdin)["servers"]
sys.exit(0 if len(s) == int(sys.argv[1]) and all(x["state"] == "connected" for x in s) else 1)' "$2" 2>/dev/null
}

# stop_gateway_check KEY LABEL: SIGTERM to the gateway (its PID only, not its process group): it must
# exit within 10 s, and the stdio upstreams it spawned (in its session) must be gone 5 s later
stop_gateway_check() {
  local key=$1 pid=${BG_OF[$1]} t0 why="" left="" detail="$W/out/$1.stop" i
  local name="$2: SIGTERM stops tether serve --http and its stdio upstreams"
  t0=$(now_ns)
  left=$(ps -o pid=,args= --sid "$pid" || true)
  kill -TERM "$pid" 2>/dev/null || true
  if ! poll_until 10 gone "$pid"; then
    why="tether serve still running 10s after SIGTERM"
  elif ! poll_until 5 session_empty "$pid"; then
    why="tether serve exited, but processes it started are still alive 5s later"
  fi
  if [[ -z "$why" ]]; then
    pass "$name" "$(secs_since "$t0")"
  else
    { echo "before SIGTERM, session $pid:"; echo "$left"; echo "still alive:"; ps -o pid=,args= --sid "$pid" || true
      echo "--- log:"; tail -n 20 "$W/logs/$key.log"; } >"$detail"
    fail "$name" "$(secs_since "$t0")" "$why" "$detail"
    kill -KILL -- "-$pid" 2>/dev/null || true
    while read -r i _; do kill -KILL "$i" 2>/dev/null || true; done < <(ps -o pid=,args= --sid "$pid" || true)
  fi
  wait "$pid" 2>/dev/null || true
  # forget it, so the exit trap does not signal a process group id that may be reused by now
  for i in "${!BG_PIDS[@]}"; do [[ "${BG_PIDS[$i]}" == "$pid" ]] && unset 'BG_PIDS[i]'; done
  BG_PIDS=("${BG_PIDS[@]}")
  unset 'BG_OF[$key]'
}
session_empty() { ! ps -o pid= --sid "$1" >/dev/null; }

section_gateway() {
  need_servers py2-http || return 0   # reported as a FAIL by need_servers
  local cfg="$W/gateway.json" url stdio_front inspector pyc common
  "$PYTHON" - "$cfg" "$EV" "$TIME_SERVER" "${URL[py2-http]}" <<'EOF'
import json, sys
cfg, ev, time_server, py2_http = sys.argv[1:]
json.dump({"mcpServers": {
    "everything": {"command": ev, "args": ["stdio"]},
    "py2": {"type": "http", "url": py2_http},
    "time": {"command": time_server, "args": ["--local-timezone", "UTC"]},
}}, open(cfg, "w"), indent=2)
EOF
  start_gateway gw "$cfg" 3 || return 0
  url=${URL[gw]}
  stdio_front=("$TETHER" serve --config "$cfg")

  # /status: the three upstreams, as the gateway sees them
  run_cmd curl -s --noproxy '*' --max-time 10 "${url%/mcp}/status"
  verdict "gateway: GET /status shows everything, py2 (http), time connected" 0 \
    "servers['everything']['state'] == servers['py2']['state'] == servers['time']['state'] == 'connected' \
and servers['py2']['transport'] == 'http' and servers['py2']['tools'] == 3 and servers['time']['tools'] == 2 \
and servers['everything']['tools'] >= 12"
  GW_EV_N=$("$PYTHON" -c 'import json, sys; print([s["tools"] for s in json.load(open(sys.argv[1]))["servers"] if s["name"] == "everything"][0])' "$OUT" 2>/dev/null || echo 0)

  # MCP Inspector CLI 2.12, HTTP front (URL) then stdio front (the gateway as its command)
  inspector=(mcp-inspector --cli --format json)
  for front in http stdio; do
    local target=() label="gateway/inspector-$front"
    if [[ $front == http ]]; then target=("$url"); else target=(-- "${stdio_front[@]}"); fi
    expect "$label: tools/list (everything__*, py2__*, time__*)" 0 \
      "$(gw_tools_expr tools) and all(t['inputSchema']['type'] == 'object' for t in res['tools'])" \
      "${inspector[@]}" --method tools/list "${target[@]}"
    expect "$label: tools/call everything__get-sum (stdio upstream)" 0 \
      "text == 'The sum of 19 and 23 is 42.' and not res.get('isError')" \
      "${inspector[@]}" --method tools/call --tool-name everything__get-sum --tool-args-json '{"a":19,"b":23}' "${target[@]}"
    expect "$label: tools/call py2__add (HTTP upstream)" 0 \
      "text == '42' and res['structuredContent'] == {'result': 42} and res['isError'] is False" \
      "${inspector[@]}" --method tools/call --tool-name py2__add --tool-args-json '{"a":20,"b":22}' "${target[@]}"
    expect "$label: tools/call time__convert_time (stdio upstream)" 0 \
      "res['structuredContent']['target']['datetime'][11:16] == '21:00' and res['structuredContent']['time_difference'] == '+9.0h'" \
      "${inspector[@]}" --method tools/call --tool-name time__convert_time \
      --tool-args-json '{"source_timezone":"UTC","time":"12:00","target_timezone":"Asia/Tokyo"}' "${target[@]}"
    if [[ $front == http ]]; then
      expect "$label: tools/call everything__echo, non-ASCII round trip" 0 \
        "text == 'Echo: héllo gateway ✓'" \
        "${inspector[@]}" --method tools/call --tool-name everything__echo --tool-args-json '{"message":"héllo gateway ✓"}' "${target[@]}"
      expect "$label: tools/call py2__fail -> isError (inspector exit 5)" 5 \
        "res['isError'] is True and text.startswith('Error executing tool fail') and 'tool_is_error' in err" \
        "${inspector[@]}" --method tools/call --tool-name py2__fail --tool-args-json '{"message":"x"}' "${target[@]}"
    else
      no_strays "$label"
    fi
  done

  # The HTTP front's SSE answer, byte level: a call running past 250 ms is answered with SSE, which
  # (README) starts with a priming event. MCP: "an SSE event consisting of an event ID and an empty
  # data field"; a block with no `data` field at all is never dispatched by an SSE parser (WHATWG),
  # so clients never see it and cannot resume from it.
  expect "gateway/http-front: a slow call (py2__slow 0.5 s) is answered with SSE: priming event (id + empty data field), then the result" 0 \
    "j['status'] == 200 and j['content_type'].startswith('text/event-stream') and j['headers']['x-accel-buffering'] == 'no' \
and 'no-cache' in j['headers']['cache-control'] and bool(j['events'][0]['id']) and j['events'][0]['data'] == '' \
and json.loads(j['events'][-1]['data'])['result']['content'][0]['text'] == 'slept 0.5s'" \
    "$PYTHON" "$INTEROP_SRC/sse_call.py" "$url" py2__slow '{"seconds":0.5}'

  # Python SDK 2.x client: mode auto (probes server/discover first, falls back to initialize on the
  # gateway's error) and mode legacy (initialize only), through both fronts
  pyc=("$PY2" "$INTEROP_SRC/py_client.py")
  local probe_auto="j['probe']['sent'] is True and j['probe']['outcome'] == 'error' and j['era'] == 'legacy'"
  local probe_legacy="j['probe'] is None and j['era'] == 'legacy'"
  common="j['protocol_version'] == '2025-11-25' and j['server_info']['name'] == 'tether' and $(gw_tools_expr "j['tools']")"
  expect "gateway/python-sdk-http: mode auto (server/discover -> error -> initialize), list, call py2__add" 0 \
    "$probe_auto and $common and j['call']['content'][0]['text'] == '42' and j['call']['structuredContent'] == {'result': 42} \
and j['call']['isError'] is False" \
    "${pyc[@]}" --mode auto --call py2__add '{"a":20,"b":22}' "$url"
  expect "gateway/python-sdk-http: mode legacy, list, call everything__get-sum" 0 \
    "$probe_legacy and $common and j['call']['content'][0]['text'] == 'The sum of 19 and 23 is 42.'" \
    "${pyc[@]}" --mode legacy --call everything__get-sum '{"a":19,"b":23}' "$url"
  expect "gateway/python-sdk-stdio: mode auto (server/discover -> error -> initialize), list, call time__get_current_time" 0 \
    "$probe_auto and $common and j['call']['structuredContent']['timezone'] == 'UTC' and j['call']['isError'] is False" \
    "${pyc[@]}" --mode auto --call time__get_current_time '{"timezone":"UTC"}' -- "${stdio_front[@]}"
  expect "gateway/python-sdk-stdio: mode legacy, list, call everything__echo" 0 \
    "$probe_legacy and $common and j['call']['content'][0]['text'] == 'Echo: héllo gateway ✓'" \
    "${pyc[@]}" --mode legacy --call everything__echo '{"message":"héllo gateway ✓"}' -- "${stdio_front[@]}"
  no_strays "gateway/python-sdk-stdio"

  # Claude Code 2.1.330: `claude mcp list` health-checks the project's .mcp.json (scratch HOME whose
  # settings approve project servers; no login needed), the gateway once per front
  local home="$W/claude/home" proj="$W/claude/project"
  mkdir -p "$home/.claude" "$proj"
  echo '{"enableAllProjectMcpServers": true}' >"$home/.claude/settings.json"
  "$PYTHON" - "$proj/.mcp.json" "$url" "${stdio_front[@]}" <<'EOF'
import json, sys
path, url, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
json.dump({"mcpServers": {
    "gateway-stdio": {"command": cmd[0], "args": cmd[1:]},
    "gateway-http": {"type": "http", "url": url},
}}, open(path, "w"), indent=2)
EOF
  run_cmd env -C "$proj" HOME="$home" MCP_TIMEOUT=20000 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 claude mcp list
  verdict "gateway/claude-code: claude mcp list, stdio entry ✔ Connected" 0 \
    "any(l.startswith('gateway-stdio: ') and l.endswith('✔ Connected') for l in out.splitlines())"
  verdict "gateway/claude-code: claude mcp list, \"type\": \"http\" entry ✔ Connected" 0 \
    "any(l.startswith('gateway-http: $url (HTTP)') and l.endswith('✔ Connected') for l in out.splitlines())"
  no_strays "gateway/claude-code"

  stop_gateway_check gw gateway/serve-http

  # The conformance suite in SERVER mode, through the gateway: `tether serve --http --no-prefix`
  # whose only upstream is `tether chaos --conformance` over stdio. The suite's
  # dns-rebinding-protection scenario needs a `localhost` URL (it sends Host: localhost:PORT).
  local ccfg="$W/gateway-conformance.json" cdir curl_
  "$PYTHON" - "$ccfg" "$TETHER" <<'EOF'
import json, sys
json.dump({"mcpServers": {"chaos": {"command": sys.argv[2], "args": ["chaos", "--conformance"]}}},
          open(sys.argv[1], "w"), indent=2)
EOF
  start_gateway gw-conformance "$ccfg" 1 --no-prefix --no-request-log || return 0
  curl_="http://localhost:${URL[gw-conformance]#http://127.0.0.1:}"
  cdir="$W/conformance-server/active"
  mkdir -p "$cdir"
  run_cmd conformance server --url "$curl_" --suite active -o "$cdir"
  verdict "gateway/conformance: --suite active (30 scenarios, 39 checks)" 0 "passed(39)" "$cdir"
  cdir="$W/conformance-server/all"
  mkdir -p "$cdir"
  # `all` adds the pending json-schema-2020-12 (4 checks) and server-sse-polling. Through a gateway
  # whose upstream is stdio nothing closes the POST stream mid-call, so that scenario only checks
  # the priming event and the retry field; the retry field is a SHOULD for a server that closes
  # the stream, which the gateway does not: its WARNING is accepted. The priming event is not.
  run_cmd conformance server --url "$curl_" --suite all -o "$cdir"
  verdict "gateway/conformance: --suite all (32 scenarios, 43 checks; WARNING server-sse-retry-field accepted)" 0 \
    "passed(43, warnings_ok=('server-sse-retry-field',))" "$cdir"

  # What tools-call-with-progress checks, made deterministic: 100 concurrent calls of
  # test_tool_with_progress (progress 0, 50, 100, then the result); every call must see all three
  # before its result, on both fronts. The control (no gateway) shows the upstream sends them all.
  expect "gateway/progress: control, straight to tether chaos --conformance over stdio (100 concurrent calls)" 0 \
    "j['bad'] == 0 and not j['stray'] and j['calls'] == 100" \
    "$PYTHON" "$INTEROP_SRC/progress_check.py" -n 100 -- "$TETHER" chaos --conformance
  expect "gateway/progress: HTTP front forwards every progress notification before the result (100 concurrent calls)" 0 \
    "j['bad'] == 0 and not j['stray'] and j['calls'] == 100" \
    "$PYTHON" "$INTEROP_SRC/progress_check.py" -n 100 "${URL[gw-conformance]}"
  expect "gateway/progress: stdio front forwards every progress notification before the result (100 concurrent calls)" 0 \
    "j['bad'] == 0 and not j['stray'] and j['calls'] == 100" \
    "$PYTHON" "$INTEROP_SRC/progress_check.py" -n 100 -- "$TETHER" serve --config "$ccfg" --no-prefix --no-request-log
  no_strays "gateway/progress stdio front"
  stop_gateway_check gw-conformance gateway/serve-conformance
}

# The status page (GET /) in headless Chromium (Debian's), driven by Playwright: two stdio
# upstreams render as connected; a tools/call that makes one exit (`crash-on-call`, restart never)
# turns its row to failed without a reload, the other staying connected.
section_page() {
  local cfg="$W/page.json" base
  "$PYTHON" - "$cfg" "$TETHER" <<'EOF2'
import json, sys
cfg, tether = sys.argv[1:]
servers = {
    "steady": {"command": tether, "args": ["chaos", "--name", "steady"]},
    "crashy": {"command": tether, "args": ["chaos", "--name", "crashy", "--fault", "crash-on-call"],
               "tether": {"restart": "never"}},
}
json.dump({"mcpServers": servers}, open(cfg, "w"))
EOF2
  start_gateway gw-page "$cfg" 2 --no-request-log || return 0
  base=${URL[gw-page]%/mcp}
  expect "page: headless Chromium renders both upstreams, then shows the crashed one failed without a reload" 0 \
    "j and j['ok']" \
    env TETHER_NODE_MODULES="$NODE_MODULES" CHROMIUM="$CHROMIUM" \
    node "$INTEROP_SRC/status_page.mjs" "$base" steady crashy "$W/out/page.png"
  no_strays "page/chromium"
  stop_gateway_check gw-page page/serve-http
}

# ---- main -----------------------------------------------------------------------------------------
for s in "${SECTIONS[@]}"; do
  echo "== $s"
  section_t0=$(now_ns)
  "section_$s"
  echo "--   section $s: $(secs_since "$section_t0")"
done
