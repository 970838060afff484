"""Serve the conformance fixture through the full pipeline: ``python examples/conformance/serve.py PORT DATA_DIR``.

The suite's client sends no credentials, so the fixture's tenant grant is used as
the gateway's anonymous grant: every request still passes every stage.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

from fixture import surface  # noqa: E402

from chamberlain.app import Runtime, create_app  # noqa: E402
from chamberlain.config import Settings  # noqa: E402
from chamberlain.tenants import create_tenant, tenant_exists  # noqa: E402

TENANT = "conformance"


async def main(port: int, data_dir: Path) -> None:
    runtime = Runtime(surface, Settings(data_dir=data_dir, port=port))
    await runtime.open()
    if not await tenant_exists(runtime.store, TENANT):
        await create_tenant(runtime.store, runtime.keys, TENANT, "MCP conformance suite")
    grant = await runtime.authority.issue(TENANT, "agent:conformance-suite", ["*"], timedelta(hours=2))
    runtime.anonymous_grant = grant.token
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
