"""MCP client on the official Python SDK (mcp 2.x `mcp.client.Client`), for Tether's interop harness.

Usage: python py_client.py --mode auto|legacy [--call TOOL JSON_ARGS] (URL | -- CMD ARGS...)
  URL -> Streamable HTTP;  -- CMD ARGS... -> stdio (the SDK spawns CMD and stops it on exit).
Connects, lists the tools, optionally calls one, and prints ONE JSON document on stdout:
  {"mode", "probe": null | {"sent": true, "outcome": "error"|"result", "code", "message"},
   "era": "legacy"|"modern", "protocol_version", "server_info": {...} | null,
   "tools": [names], "call": <CallToolResult as JSON, by alias> | null}
`probe` records the `server/discover` request that mode `auto` sends before anything else
(the SDK falls back to `initialize` when it is answered with an error): the harness can then
assert that the probe was really sent and how it was answered. Exit 0 when everything above
worked (a tool result with isError is still exit 0: the caller judges it); any exception ->
a traceback on stderr, exit 1. Bounded by --timeout (default 30 s).
"""
import argparse
import json
import sys

import anyio
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

PROBE = None
_send_discover = ClientSession.send_discover


async def _recording_send_discover(self, version):
    """ClientSession.send_discover, recording what the server answered."""
    global PROBE
    PROBE = {"sent": True, "version": version}
    try:
        raw = await _send_discover(self, version)
    except MCPError as e:
        PROBE.update(outcome="error", code=e.code, message=e.error.message)
        raise
    PROBE.update(outcome="result")
    return raw


ClientSession.send_discover = _recording_send_discover


async def run(args):
    server = args.url if args.url else StdioServerParameters(command=args.cmd[0], args=args.cmd[1:])
    with anyio.fail_after(args.timeout):
        async with Client(server, mode=args.mode) as c:
            s = c.session
            era = "modern" if s.discover_result is not None else "legacy" if s.initialize_result is not None else None
            info = c.server_info
            tools = await c.list_tools()
            names = [t.name for t in tools.tools]
            cursor = tools.next_cursor
            while cursor:
                page = await c.list_tools(cursor=cursor)
                names += [t.name for t in page.tools]
                cursor = page.next_cursor
            call = None
            if args.call:
                result = await c.call_tool(args.call[0], json.loads(args.call[1]))
                call = result.model_dump(mode="json", by_alias=True, exclude_none=True)
            return {
                "mode": args.mode,
                "probe": PROBE,
                "era": era,
                "protocol_version": c.protocol_version,
                "server_info": info.model_dump(mode="json", exclude_none=True) if info else None,
                "tools": names,
                "call": call,
            }


def main():
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["auto", "legacy"], required=True)
    p.add_argument("--call", nargs=2, metavar=("TOOL", "JSON_ARGS"))
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("url", nargs="?")
    args = p.parse_args(argv)
    args.cmd = cmd
    if bool(args.url) == bool(cmd):
        p.error("give a URL or `-- CMD ARGS...` (not both)")
    print(json.dumps(anyio.run(run, args)))


if __name__ == "__main__":
    main()
