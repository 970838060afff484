"""The floor: one trivial tool served bare by FastMCP (stateless, JSON responses).

The tool is ``async def``, as Chamberlain requires of actions, so both servers run the
same function. FastMCP runs a plain ``def`` tool in a worker thread, which cost it about
0.24 ms more CPU per call on this machine: a sync floor would flatter the governed server.

``python bench/servers/bare_fastmcp.py PORT [--tune-gc]``: with ``--tune-gc`` the process
gets the garbage-collector settings ``chamberlain serve`` gives the gateway
(``chamberlain.gc_tuning``), so a comparison can hold everything but governance equal.
"""

import sys

from fastmcp import FastMCP

mcp = FastMCP("bare")


@mcp.tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


if __name__ == "__main__":
    if "--tune-gc" in sys.argv:
        from chamberlain.gc_tuning import tune_gc

        tune_gc()
    mcp.run(
        transport="http",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        show_banner=False,
        stateless_http=True,
        json_response=True,
        log_level="warning",
    )
