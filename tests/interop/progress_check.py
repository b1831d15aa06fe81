"""Does every progress notification a tool sends before its result reach the client?

Usage: python3 progress_check.py [-n N] [--tool NAME] (URL | -- CMD ARGS...)     (stdlib only)
  URL           a Streamable HTTP endpoint: one session, N tools/call POSTs in parallel (threads)
  -- CMD ARGS   a stdio server: spawned, N tools/call requests written at once, then read back
Calls TOOL (default `test_tool_with_progress`, from the conformance suite: it sends progress
0, 50, 100 of 100, ~50 ms apart, then returns) N times at once (default 50), each with its own
`_meta.progressToken`, and checks that each call saw exactly the progress values 0, 50, 100, in
that order, BEFORE its result (a client drops progress that arrives after the result).
Prints one JSON document: {"calls", "bad", "examples": [{"call", "seen"}...], "stray", "seconds"};
exit 0 when bad == 0 and nothing stray arrived, 1 otherwise, 2 on a protocol error.
"""
import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse

INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "interop-progress-check", "version": "1"}},
}
WANT = [0, 50, 100, "result"]


def call_msg(i, tool):
    return {"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
            "params": {"name": tool, "arguments": {}, "_meta": {"progressToken": f"p{i}"}}}


def run_stdio(cmd, n, tool, timeout):
    seen = {i: [] for i in range(n)}
    stray = []
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        def send(m):
            p.stdin.write(json.dumps(m) + "\n")
            p.stdin.flush()

        def read():
            line = p.stdout.readline()
            if not line:
                raise SystemExit(f"stdio: EOF from {cmd[0]} (timeout {timeout}s?)")
            return json.loads(line)

        send(INIT)
        while read().get("id") != 1:
            pass
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        for i in range(n):
            send(call_msg(i, tool))
        done = 0
        while done < n:
            m = read()
            if m.get("method") == "notifications/progress":
                tok = str(m["params"].get("progressToken", ""))
                i = int(tok[1:]) if tok[1:].isdigit() else -1
                if i in seen and (not seen[i] or seen[i][-1] != "result"):
                    seen[i].append(m["params"]["progress"])
                else:
                    stray.append(m)
            elif m.get("id") is not None and (100 <= m["id"] < 100 + n) and ("result" in m or "error" in m):
                seen[m["id"] - 100].append("result" if "result" in m else "error")
                done += 1
            elif "method" not in m:
                stray.append(m)
    finally:
        timer.cancel()
        p.stdin.close()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return seen, stray


def sse_messages(resp):
    """JSON-RPC messages of an SSE body (events with non-empty data), in order."""
    data = []
    for raw in resp:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if "".join(data).strip():  # not the priming event (empty data)
                yield json.loads("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[6:] if line[5:6] == " " else line[5:])
    if "".join(data).strip():
        yield json.loads("\n".join(data))


def post(url, body, headers, timeout):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("POST", u.path, json.dumps(body), {
        "content-type": "application/json", "accept": "application/json, text/event-stream", **headers})
    resp = conn.getresponse()
    if resp.status not in (200, 202):
        raise SystemExit(f"http: POST {body.get('method')} answered {resp.status}: {resp.read()[:200]!r}")
    if resp.status == 202:
        return resp, []
    if resp.getheader("content-type", "").startswith("text/event-stream"):
        msgs = list(sse_messages(resp))
    else:
        raw = resp.read()
        msgs = [json.loads(raw)] if raw.strip() else []
    conn.close()
    return resp, msgs


def run_http(url, n, tool, timeout):
    resp, _ = post(url, INIT, {}, timeout)
    sid = resp.getheader("mcp-session-id")
    headers = {"mcp-protocol-version": "2025-11-25", **({"mcp-session-id": sid} if sid else {})}
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers, timeout)
    seen = {i: [] for i in range(n)}
    stray = []
    errors = []

    def one(i):
        try:
            _, msgs = post(url, call_msg(i, tool), headers, timeout)
            for m in msgs:
                if m.get("method") == "notifications/progress" and m["params"].get("progressToken") == f"p{i}":
                    seen[i].append(m["params"]["progress"])
                elif m.get("id") == 100 + i:
                    seen[i].append("result" if "result" in m else "error")
                else:
                    stray.append(m)
        except BaseException as e:  # noqa: BLE001
            errors.append(f"call {i}: {e}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if sid:
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        conn.request("DELETE", u.path, headers=headers)
        conn.getresponse().read()
    if errors:
        raise SystemExit("http: " + "; ".join(errors[:3]))
    return seen, stray


def main():
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--tool", default="test_tool_with_progress")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("url", nargs="?")
    a = ap.parse_args(argv)
    if bool(a.url) == bool(cmd):
        ap.error("give a URL or `-- CMD ARGS...`")
    t0 = time.monotonic()
    try:
        seen, stray = run_http(a.url, a.n, a.tool, a.timeout) if a.url else run_stdio(cmd, a.n, a.tool, a.timeout)
    except SystemExit as e:
        print(json.dumps({"error": str(e)}))
        return 2
    norm = {i: [x if isinstance(x, str) else int(x) for x in s] for i, s in seen.items()}
    bad = {i: s for i, s in norm.items() if s != WANT}
    print(json.dumps({"calls": a.n, "bad": len(bad),
                      "examples": [{"call": i, "seen": s} for i, s in list(bad.items())[:5]],
                      "stray": stray[:5], "seconds": round(time.monotonic() - t0, 2)}))
    return 0 if not bad and not stray else 1


if __name__ == "__main__":
    sys.exit(main())
