"""The floor: one trivial tool served bare by FastMCP (stateless, JSON responses)."""

import sys

from fastmcp import FastMCP

mcp = FastMCP("bare")


@mcp.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


if __name__ == "__main__":
    mcp.run(
        transport="http",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        show_banner=False,
        stateless_http=True,
        json_response=True,
        log_level="warning",
    )
