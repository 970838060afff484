"""The same trivial action through Chamberlain's whole governed pipeline.

``python bench/servers/governed.py PORT DATA_DIR`` creates a tenant, writes a grant
for ``math.*`` to DATA_DIR/grant.txt, then serves MCP and REST on 127.0.0.1:PORT.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import uvicorn

from chamberlain import Surface
from chamberlain.app import Runtime, create_app
from chamberlain.config import Settings
from chamberlain.tenants import create_tenant

surface = Surface("bench")


@surface.action("math.add", risk="read")
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def main(port: int, data_dir: Path) -> None:
    runtime = Runtime(surface, Settings(data_dir=data_dir, port=port))
    await runtime.open()
    await create_tenant(runtime.store, runtime.keys, "bench", "Bench")
    grant = await runtime.authority.issue("bench", "agent:bench", ["math.*"], timedelta(hours=2))
    (data_dir / "grant.txt").write_text(grant.token)
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
