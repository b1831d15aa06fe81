"""Tiny MCP server on the official Python SDK, for Tether's interop harness.

Runs on both SDK majors: mcp 2.x (`MCPServer`, venv py2) and mcp 1.x (`FastMCP`, venv py1).
Usage: python py_server.py [stdio | streamable-http PORT]      (HTTP: 127.0.0.1:PORT, path /mcp)
Tools (3): add(a, b) -> a + b;  fail(message) -> always raises (result has isError: true);
           slow(seconds) -> sleeps, then answers (for timeout / cancellation tests). If the env
           var INTEROP_SLOW_STARTED names a file, slow() first writes this server's PID to it,
           so a test knows the call is in flight and which process serves it.
Server name: interop-py-v2 or interop-py-v1, version = the SDK's version.
"""
import importlib.metadata
import os
import sys
import time

SDK_VERSION = importlib.metadata.version("mcp")
MAJOR = int(SDK_VERSION.split(".")[0])
transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000

if MAJOR >= 2:
    from mcp.server.mcpserver import MCPServer  # FastMCP was renamed MCPServer in mcp 2

    server = MCPServer(f"interop-py-v{MAJOR}", version=SDK_VERSION)
else:
    from mcp.server.fastmcp import FastMCP

    server = FastMCP(f"interop-py-v{MAJOR}", host="127.0.0.1", port=port)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail(message: str = "boom") -> str:
    """Always raises: the client gets a result with isError: true."""
    raise ValueError(message)


@server.tool()
def slow(seconds: float = 3.0) -> str:
    """Sleep for the given number of seconds, then answer."""
    started = os.environ.get("INTEROP_SLOW_STARTED")
    if started:
        with open(started + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(started + ".tmp", started)
    time.sleep(seconds)
    return f"slept {seconds}s"


if __name__ == "__main__":
    if transport == "stdio":
        server.run("stdio")
    elif MAJOR >= 2:
        server.run(transport, host="127.0.0.1", port=port)
    else:
        server.run(transport)
