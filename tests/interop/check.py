"""Verdict of one interop check (called by run.sh; Python 3 stdlib only).

Usage: check.py OUT_FILE ERR_FILE RC WANT_RC EXPR [CONFORMANCE_DIR]
  Passes (exit 0, prints nothing) when RC == WANT_RC and the Python expression EXPR is true.
  Otherwise exits 1 and prints why, with the relevant output.
Names available in EXPR:
  out, err   stdout / stderr of the command (str)        rc   its exit code
  j          stdout parsed as JSON (None if it is not JSON)
  texts      the `text` of every text item of j["content"] (a tool result), text = "\\n".join(texts)
  tools      the tool names of j["tools"] (`tether tools --json`)
  servers    {name: entry} of j["servers"] (`tether list --json`)
  conf       the conformance checks (checks.json) found under CONFORMANCE_DIR, [] if none
  passed(n)  in a conformance check: no check is FAILURE/WARNING and at least n are SUCCESS
  re, json, datetime, timezone
"""
import datetime
import glob
import json
import os
import re
import sys
from datetime import timezone


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def head(s, n=25, width=400, tail=False):
    """The first (or last) n lines of s, long lines cut, colour codes removed."""
    lines = [ln for ln in ANSI.sub("", s).rstrip("\n").splitlines()]
    if tail and len(lines) > n:
        cut = [f"… ({len(lines) - n} lines before)"] + lines[-n:]
    else:
        cut = lines[:n] + ([f"… ({len(lines) - n} more lines)"] if len(lines) > n else [])
    cut = [ln if len(ln) <= width else ln[:width] + " …" for ln in cut]
    return "\n".join(cut) if cut else "(empty)"


def main():
    out_f, err_f, rc, want, expr = sys.argv[1:6]
    conf_dir = sys.argv[6] if len(sys.argv) > 6 else ""
    rc, want = int(rc), int(want)
    out = open(out_f, encoding="utf-8", errors="replace").read()
    err = open(err_f, encoding="utf-8", errors="replace").read()
    try:
        j = json.loads(out)
    except ValueError:
        j = None
    content = j.get("content") if isinstance(j, dict) else None
    texts = [c.get("text", "") for c in content or [] if isinstance(c, dict) and c.get("type") == "text"]
    tools = [t.get("name") for t in j.get("tools", [])] if isinstance(j, dict) else []
    servers = {s.get("name"): s for s in j.get("servers", [])} if isinstance(j, dict) else {}
    conf, conf_files = [], []
    if conf_dir:
        conf_files = sorted(glob.glob(os.path.join(conf_dir, "checks.json")))
        for f in conf_files:
            conf.extend(json.load(open(f)))

    def passed(n):
        bad = [c for c in conf if c.get("status") in ("FAILURE", "WARNING")]
        good = [c for c in conf if c.get("status") == "SUCCESS"]
        return not bad and len(good) >= n

    names = dict(__builtins__=__builtins__, out=out, err=err, rc=rc, j=j, texts=texts, text="\n".join(texts), tools=tools,
                 servers=servers, conf=conf, passed=passed, re=re, json=json,
                 datetime=datetime, timezone=timezone)
    reasons = []
    if rc == 124 or rc == 137:
        reasons.append(f"timed out (exit {rc})")
    elif rc != want:
        reasons.append(f"exit code {rc}, expected {want}")
    try:
        ok = bool(eval(expr, names))  # noqa: S307 (our own expressions, from run.sh)
    except Exception as e:  # noqa: BLE001
        ok = False
        reasons.append(f"assertion raised {type(e).__name__}: {e}")
    if not ok and not any(r.startswith("assertion") for r in reasons):
        reasons.append("assertion false")
    if not reasons:
        return 0
    print("; ".join(reasons) + f"  [assertion: {expr}]")
    if conf_dir:
        if not conf_files:
            print(f"no checks.json under {conf_dir}")
        for c in conf:
            if c.get("status") in ("FAILURE", "WARNING"):
                print(f"conformance {c.get('status')}: {c.get('id')}: {c.get('errorMessage') or c.get('description')}")
        # what the scenario server saw, in order (shows races between the client's requests)
        timeline = [f"{c.get('timestamp', '')[11:23]} {c.get('description')}" for c in conf if c.get("status") == "INFO"]
        if timeline:
            print("--- scenario server timeline:\n" + head("\n".join(timeline), n=30))
        for name in ("stdout.txt", "stderr.txt"):
            p = os.path.join(conf_dir, name)
            if os.path.exists(p):
                print(f"--- client {name}:\n{head(open(p, errors='replace').read())}")
    # the conformance suite ends its stderr with the checks table and the verdict
    print(f"--- stdout:\n{head(out, tail=bool(conf_dir))}")
    print(f"--- stderr:\n{head(err, n=8 if conf_dir else 25, tail=bool(conf_dir))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
