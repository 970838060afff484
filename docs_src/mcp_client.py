"""The README's MCP client: the official SDK, the grant as a bearer token.

GRANT=... python docs_src/mcp_client.py [http://127.0.0.1:8000/mcp]
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, grant: str) -> None:
    headers = {"Authorization": f"Bearer {grant}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                print([tool.name for tool in tools.tools])
                result = await session.call_tool("orders.get", {"order_id": "o_1002"})
                print(result.structured_content)
                print(result.meta["chamberlain/call_id"] if result.meta else None)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/mcp", os.environ["GRANT"]))
