"""What the fault drills share: the gateway zygote, a PostgreSQL database of their own,
and names on the shared Redis and NATS that no other test uses."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from chamberlain.events._nats import stream_name
from tests import backends
from tests.faults.spawner import Spawner, alive, spawner

NATS = "nats://127.0.0.1:4222"
REDIS = "redis://127.0.0.1:6379/0"
TENANT = "acme-shop"
TARGET = "chamberlain.demo:shop"


@pytest.fixture(scope="package")
def zygote() -> Iterator[Spawner]:
    with spawner() as made:
        yield made


def fault_seed() -> int:
    """The drills' random seed: ``CHAMBERLAIN_FAULT_SEED`` to replay a failure, else a new one
    (printed, and named in every failure message)."""
    raw = os.environ.get("CHAMBERLAIN_FAULT_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(2**32)


@pytest.fixture
def postgres_database(tmp_path: Path) -> Iterator[str]:
    """A database of this test's own on the local PostgreSQL (as the ordinary app role),
    dropped afterwards."""
    url = backends.database_for(tmp_path / "pg")
    yield url
    name = url.rsplit("/", 1)[1]
    with backends._admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    backends._created.discard(name)


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """A Redis key prefix and a NATS subject prefix (and so stream) of this test's own."""
    run = uuid.uuid4().hex[:10]
    chosen = {"CHAMBERLAIN_REDIS_PREFIX": f"chamberlain-fault:{run}:", "CHAMBERLAIN_NATS_PREFIX": f"f{run}.events"}
    yield chosen
    asyncio.run(_drop_stream(stream_name(chosen["CHAMBERLAIN_NATS_PREFIX"])))


async def _drop_stream(name: str) -> None:
    nc = await nats.connect(NATS)
    try:
        await nc.jetstream().delete_stream(name)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


async def answering(url: str, pid: int, log: Path) -> None:
    """Wait until the gateway at ``url`` answers ``/healthz``; fail at once if it died."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(3000):  # a hang guard (60 s), not a latency bound
            if not alive(pid):
                raise AssertionError(f"the gateway at {url} exited:\n{log.read_text()[-3000:]}")
            try:
                if (await client.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.02)
    raise AssertionError(f"the gateway at {url} never answered:\n{log.read_text()[-3000:]}")
