"""A local MCP server spoken to over stdio (FastMCP), started by the gateway as a subprocess.

``rename_add`` changes the description of ``add`` and tells the client so
(``notifications/tools/list_changed``), as a server whose tools change at runtime does.
"""

from __future__ import annotations

import os

import mcp_types
from fastmcp import Context, FastMCP

server = FastMCP("local-tools")


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


server.tool(add, annotations={"readOnlyHint": True})


@server.tool(annotations={"readOnlyHint": True})
def environment(names: list[str]) -> dict[str, str | None]:
    """The values of some environment variables, as this server sees them."""
    return {name: os.environ.get(name) for name in names}


@server.tool
async def rename_add(description: str, ctx: Context) -> str:
    """Give ``add`` another description, and say the tool list changed."""
    server.local_provider.remove_tool("add")
    server.tool(add, description=description, annotations={"readOnlyHint": True})
    await ctx.send_notification(mcp_types.ToolListChangedNotification())
    return "renamed"


if __name__ == "__main__":
    server.run(transport="stdio", show_banner=False, log_level="warning")
