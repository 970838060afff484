"""Serving a runtime the way a production gateway process runs: ``chamberlain serve``,
``chamberlain demo`` and the benchmarks' governed server all go through ``serve``, so a
measurement is of the gateway as deployed (its HTTP protocol with request-head
timeouts, its garbage-collector settings), not of a configuration nobody runs."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from .app import Runtime, create_app
from .gc_tuning import tune_gc
from .slow_clients import head_timeout_protocol

__all__ = ["serve"]


def serve(runtime: Runtime, before: Callable[[Runtime], Awaitable[None]] | None = None) -> None:
    """Open ``runtime``, run ``before`` (a banner, a benchmark's setup), then serve HTTP on
    the settings' host and port until interrupted."""
    import uvicorn

    async def run() -> None:
        await runtime.open()
        if before is not None:
            await before(runtime)
        config = uvicorn.Config(
            create_app(runtime),
            host=runtime.settings.host,
            port=runtime.settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # A client must send each request's head in time, or be disconnected (slowloris).
            http=head_timeout_protocol(runtime.settings.request_read_timeout_s),
        )
        if runtime.settings.policy_dir is not None:
            # kill -HUP <pid>: publish the policy files again if they changed.
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(runtime.reload_policy_dir()))
        tune_gc()
        await uvicorn.Server(config).serve()

    asyncio.run(run())
