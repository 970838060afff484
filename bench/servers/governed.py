"""The same trivial action through Chamberlain's whole governed pipeline.

``python bench/servers/governed.py PORT DATA_DIR`` creates a tenant, writes a grant
for ``math.*`` to DATA_DIR/grant.txt, then serves MCP and REST on 127.0.0.1:PORT the way
``chamberlain serve`` does (``chamberlain.serving.serve``: its HTTP protocol, its
garbage-collector settings), so the benchmarks measure the gateway as deployed.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from chamberlain import Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.serving import serve
from chamberlain.tenants import create_tenant

surface = Surface("bench")


@surface.action("math.add", risk="read")
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def main(port: int, data_dir: Path) -> None:
    async def setup(runtime: Runtime) -> None:
        await create_tenant(runtime.store, runtime.keys, "bench", "Bench")
        grant = await runtime.authority.issue("bench", "agent:bench", ["math.*"], timedelta(hours=2))
        (data_dir / "grant.txt").write_text(grant.token)

    serve(Runtime(surface, Settings(data_dir=data_dir, port=port, host="127.0.0.1")), setup)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
