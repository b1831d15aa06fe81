"""One tools/call over Streamable HTTP, reporting the raw shape of the answer (stdlib only).

Usage: python3 sse_call.py URL TOOL [ARGS_JSON]
initialize (2025-11-25) + notifications/initialized, then POST tools/call, and prints ONE JSON
document: {"status", "content_type", "headers": {cache-control, x-accel-buffering},
  "events": [{"fields": [names of the fields in the event block, in order], "id", "event",
              "data" (null when the block has no `data` field), "retry"}...],
  "json": <the body, when it is application/json>}
`fields` shows what a byte-level reading sees: per the SSE specification a block without any
`data` field is never dispatched to the application, while `data:` with an empty value is (with
data ""); MCP's priming event is "an event ID and an empty data field". Comment lines (`:`) are
not events. The session is closed with DELETE. Exit 0 unless the exchange itself failed (2).
"""
import http.client
import json
import sys
import urllib.parse


def request(url, method, body=None, headers=None, timeout=30):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    h = {"accept": "application/json, text/event-stream", **(headers or {})}
    if body is not None:
        h["content-type"] = "application/json"
    conn.request(method, u.path, json.dumps(body) if body is not None else None, h)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp, raw


def sse_blocks(raw):
    events, cur = [], None
    for line in raw.decode("utf-8").replace("\r\n", "\n").split("\n"):
        if line == "":
            if cur is not None:
                events.append(cur)
            cur = None
            continue
        if line.startswith(":"):
            continue  # comment (keep-alive)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        cur = cur or {"fields": [], "id": None, "event": None, "data": None, "retry": None}
        cur["fields"].append(name)
        if name == "data":
            cur["data"] = value if cur["data"] is None else cur["data"] + "\n" + value
        elif name in ("id", "event", "retry"):
            cur[name] = value
    if cur is not None:
        events.append(cur)
    return events


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    url, tool = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) == 4 else {}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "interop-sse-call", "version": "1"}}}
    resp, raw = request(url, "POST", init)
    if resp.status != 200:
        print(json.dumps({"error": f"initialize answered {resp.status}: {raw[:200]!r}"}))
        return 2
    sid = resp.getheader("mcp-session-id")
    h = {"mcp-protocol-version": "2025-11-25", **({"mcp-session-id": sid} if sid else {})}
    request(url, "POST", {"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    resp, raw = request(url, "POST", call, h)
    ctype = resp.getheader("content-type", "")
    out = {"status": resp.status, "content_type": ctype,
           "headers": {k: resp.getheader(k) for k in ("cache-control", "x-accel-buffering")},
           "events": sse_blocks(raw) if ctype.startswith("text/event-stream") else [],
           "json": json.loads(raw) if ctype.startswith("application/json") and raw.strip() else None}
    if sid:
        request(url, "DELETE", headers=h)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
