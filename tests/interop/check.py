"""Verdict of one interop check (called by run.sh; Python 3 stdlib only).

Usage: check.py OUT_FILE ERR_FILE RC WANT_RC EXPR [CONFORMANCE_DIR]
  Passes (exit 0, prints nothing) when RC == WANT_RC and the Python expression EXPR is true.
  Otherwise exits 1 and prints why, with the relevant output.
Names available in EXPR:
  out, err   stdout / stderr of the command (str)        rc   its exit code
  j          stdout parsed as JSON (None if it is not JSON)
  res        j["result"] when j is an MCP Inspector CLI answer (`{"result": {...}}`), else j
  texts      the `text` of every text item of res["content"] (a tool result), text = "\\n".join(texts)
  tools      the tool names of res["tools"] (`tether tools --json`, inspector tools/list)
  findings   {code: severity} of j["findings"] (`tether doctor --json`)
  servers    {name: entry} of j["servers"] (`tether list --json`)
  conf       the conformance checks (checks.json) found under CONFORMANCE_DIR, [] if none
  passed(n[, warnings_ok])  in a conformance check: no check is FAILURE or WARNING (except WARNINGs
             whose id is in warnings_ok) and at least n are SUCCESS
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
    res = j["result"] if isinstance(j, dict) and set(j) == {"result"} and isinstance(j["result"], dict) else j
    content = res.get("content") if isinstance(res, dict) else None
    texts = [c.get("text", "") for c in content or [] if isinstance(c, dict) and c.get("type") == "text"]
    listed = res.get("tools") if isinstance(res, dict) else None
    tools = [t.get("name") for t in listed if isinstance(t, dict)] if isinstance(listed, list) else []
    doctor = isinstance(j, dict) and "verdict" in j and isinstance(j.get("findings"), list)
    findings = {f.get("code"): f.get("severity") for f in j["findings"]} if doctor else {}
    servers = {s.get("name"): s for s in j.get("servers", [])} if isinstance(j, dict) else {}
    conf, conf_files = [], []
    if conf_dir:
        # CLIENT mode: DIR/checks.json; SERVER mode: DIR/server-<scenario>-<time>/checks.json each
        conf_files = sorted(glob.glob(os.path.join(conf_dir, "checks.json"))) \
            or sorted(glob.glob(os.path.join(conf_dir, "*", "checks.json")))
        for f in conf_files:
            scenario = os.path.basename(os.path.dirname(f)) if os.path.dirname(f) != conf_dir.rstrip("/") else ""
            scenario = re.sub(r"^server-(.*)-\d{4}-\d\d-\d\dT[\d-]+Z$", r"\1", scenario)
            for c in json.load(open(f)):
                c.setdefault("_scenario", scenario)
                conf.append(c)

    def passed(n, warnings_ok=()):
        """No FAILURE, no WARNING (except checks whose id is in warnings_ok), at least n SUCCESS."""
        bad = [c for c in conf if c.get("status") == "FAILURE"
               or (c.get("status") == "WARNING" and c.get("id") not in warnings_ok)]
        good = [c for c in conf if c.get("status") == "SUCCESS"]
        return not bad and len(good) >= n

    names = dict(__builtins__=__builtins__, out=out, err=err, rc=rc, j=j, res=res, texts=texts, text="\n".join(texts),
                 tools=tools, findings=findings, servers=servers, conf=conf, passed=passed, re=re, json=json,
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
                where = f" ({c['_scenario']})" if c.get("_scenario") else ""
                print(f"conformance {c.get('status')}: {c.get('id')}{where}: {c.get('errorMessage') or c.get('description')}")
        if conf:
            print(f"conformance: {sum(c.get('status') == 'SUCCESS' for c in conf)} SUCCESS, "
                  f"{sum(c.get('status') == 'FAILURE' for c in conf)} FAILURE, "
                  f"{sum(c.get('status') == 'WARNING' for c in conf)} WARNING in {len(conf_files)} checks.json")
        # what the scenario server saw, in order (shows races between the client's requests)
        timeline = [f"{c.get('timestamp', '')[11:23]} {c.get('description')}" for c in conf if c.get("status") == "INFO"]
        if timeline and len(conf_files) == 1:
            print("--- scenario server timeline:\n" + head("\n".join(timeline), n=30))
        for name in ("stdout.txt", "stderr.txt"):
            p = os.path.join(conf_dir, name)
            if os.path.exists(p):
                print(f"--- client {name}:\n{head(open(p, errors='replace').read())}")
    if doctor:
        # `tether doctor --json`: the verdict, every finding in full, and the phase that failed
        print(f"doctor: verdict {j.get('verdict')}, layer {j.get('layer')}, {len(j['findings'])} finding(s)")
        for f in j["findings"]:
            print(f"  {f.get('severity')} `{f.get('code')}`: {f.get('message')}\n    hint: {f.get('hint')}")
        for ph in j.get("phases", []):
            if not ph.get("ok"):
                print(f"  phase {ph.get('name')} failed: {ph.get('detail')}")
        if j.get("stderr_tail"):
            print("  server stderr tail: " + " | ".join(j["stderr_tail"][-5:]))
    # the conformance suite ends its stderr with the checks table and the verdict
    print(f"--- stdout:\n{head(out, tail=bool(conf_dir))}")
    print(f"--- stderr:\n{head(err, n=8 if conf_dir else 25, tail=bool(conf_dir))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
