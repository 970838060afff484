"""One demo gateway on loopback for the fuzzers, on a SQLite database they can read.

The fuzzers hold a grant for (nearly) everything, so that generated input reaches every
stage of the pipeline instead of stopping at a ``403``: every action of the demo except
``webhooks.register`` (a registration resolves and later calls whatever URL it is given,
and a fuzzer's URLs are nobody's business), every call record and every audit entry.
Its principal is an approver too, so the approval endpoints answer it past the role check.

Budgets: ``CHAMBERLAIN_FUZZ_EXAMPLES`` scales how many inputs each fuzzer generates (1 is
CI's default; 10 for a long local run), ``CHAMBERLAIN_FUZZ_SEED`` changes the inputs
(CI runs the same ones every time, so a failure there is reproducible).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from chamberlain.app import create_app
from chamberlain.demo import seed, shop
from tests.conftest import make_runtime
from tests.fuzz._state import State
from tests.helpers import free_port, serve_in_thread

TENANT = "acme-shop"
PRINCIPAL = "agent:fuzzer"
NOT_FUZZED = {"webhooks.register"}
SCALE = max(1, int(os.environ.get("CHAMBERLAIN_FUZZ_EXAMPLES", "1")))
SEED = int(os.environ.get("CHAMBERLAIN_FUZZ_SEED", "20261129"))


@dataclass
class FuzzGateway:
    base: str
    data: Path
    token: str
    """The fuzzers' grant (see the module's docs)."""
    agent_token: str
    """The demo's support agent: a narrower grant of the same tenant."""
    state: State

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"


@pytest.fixture(scope="package")
def fuzz_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzGateway]:
    data = tmp_path_factory.mktemp("fuzz")
    # SQLite whatever the suite's backend: the state checks read the database directly.
    settings = {"database_url": f"sqlite:///{data / 'chamberlain.db'}"}
    rt = make_runtime(shop, data, **settings)

    async def prepare() -> tuple[str, str]:
        await rt.open()
        try:
            tenants = {t.id: t for t in await seed(rt)}
            actions = [a.name for a in rt.surface if a.name not in NOT_FUZZED]
            rights = [*actions, "calls.read", "calls.revert", "audit.read", "events.*"]
            grant = await rt.authority.issue(TENANT, PRINCIPAL, rights, timedelta(hours=2))
            await rt.roles.add(TENANT, PRINCIPAL, "approver")
            for tenant in tenants:  # the log's signing key is made at the first checkpoint: not during a fuzz run
                await rt.audit.checkpoint(tenant)
            return grant.token, tenants[TENANT].grant.token
        finally:
            await rt.close()

    token, agent_token = asyncio.run(prepare())
    state = State(data)
    state.install()
    with serve_in_thread(create_app(make_runtime(shop, data, **settings)), free_port()) as base:
        yield FuzzGateway(base, data, token, agent_token, state)
    state.close()
