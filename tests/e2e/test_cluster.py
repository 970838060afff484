"""Three gateway processes on one PostgreSQL and one Redis, under load from several
clients, one of them killed with SIGKILL mid-load: no call runs twice, the audit log
has one order with no gap, no event is lost, rate limits hold across processes, and
clients see only retryable errors while a process is gone."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import func, select

from chamberlain.cluster import Cluster
from chamberlain.demo import seed, shop
from chamberlain.demo.shop import refunds
from chamberlain.events._nats import stream_name
from chamberlain.limits import Rate
from chamberlain.store import audit_entries, events
from tests import backends
from tests.conftest import make_runtime
from tests.helpers import free_port

pytestmark = pytest.mark.embedded

CLIENTS, REFUNDS_EACH = 4, 15
NATS = "nats://127.0.0.1:4222"
TENANT = "acme-shop"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, str]]:
    data, database = tmp_path / "cluster", backends.database_for(tmp_path)

    async def prepare() -> str:
        rt = make_runtime(shop, data, database_url=database)
        async with rt.running():
            token = (await seed(rt))[0].grant.token
            # orders.get declares no rate: give it one in this tenant, to see three processes share it.
            await rt.gateway.tenant_limits.set(TENANT, "orders.get", Rate.parse("10/minute"), None, by="test")
            return token

    token = asyncio.run(prepare())
    run = uuid.uuid4().hex[:10]
    env = {"CHAMBERLAIN_REDIS_PREFIX": f"chamberlain-test:{run}:", "CHAMBERLAIN_NATS_PREFIX": f"t{run}.events"}
    group = Cluster("chamberlain.demo:shop", data, database, "redis://127.0.0.1:6379/0", NATS, size=3, env=env)
    try:
        group.start(ports=[free_port() for _ in range(3)])
        yield group, token
    finally:
        group.stop()
        asyncio.run(_drop_stream(stream_name(env["CHAMBERLAIN_NATS_PREFIX"])))


async def _drop_stream(name: str) -> None:
    nc = await nats.connect(NATS)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


async def _refund(clients: list[httpx.AsyncClient], cluster: Cluster, token: str, order: str, seen: list[Any]) -> str:
    """One refund with one idempotency key, retried on the next live process until it is answered."""
    key = uuid.uuid4().hex
    body = {"order_id": order, "amount": {"amount_minor": 1, "currency": "EUR"}, "reason": "cluster drill"}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    for attempt in range(30):
        member = cluster.members[(hash(key) + attempt) % len(cluster.members)]
        try:
            resp = await clients[cluster.members.index(member)].post(
                member.url + "/v1/actions/orders.refund", json=body, headers=headers
            )
        except httpx.TransportError as err:
            seen.append(("transport", type(err).__name__))
            await asyncio.sleep(0.05)
            continue
        if resp.status_code == 200:
            return str(resp.json()["call_id"])
        problem = resp.json()
        seen.append((resp.status_code, problem.get("code"), problem.get("retryable")))
        if not problem.get("retryable"):
            raise AssertionError(f"a non-retryable refusal under failure: {problem}")
        await asyncio.sleep(0.05)
    raise AssertionError("a refund was never answered")


async def _load(cluster: Cluster, token: str) -> tuple[list[str], list[Any]]:
    clients = [httpx.AsyncClient(timeout=10) for _ in cluster.members]
    seen: list[Any] = []
    orders = itertools.cycle([f"o_{1000 + n}" for n in range(1, 7)])
    try:

        async def client(n: int) -> list[str]:
            done = []
            for i in range(REFUNDS_EACH):
                if n == 0 and i == REFUNDS_EACH // 3:
                    cluster.kill(1)  # mid-load, with the other clients' requests in flight
                done.append(await _refund(clients, cluster, token, next(orders), seen))
            return done

        results = await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    finally:
        for c in clients:
            await c.aclose()
    return [call for batch in results for call in batch], seen


def test_a_process_killed_mid_load_loses_nothing_and_runs_nothing_twice(cluster: tuple[Cluster, str], tmp_path: Path) -> None:
    group, token = cluster
    ready = httpx.get(group.members[0].url + "/readyz", timeout=5).json()
    assert ready["status"] == "ready" and [c["name"] for c in ready["checks"]] == ["database", "isolation", "redis", "nats"]
    assert "connected" in ready["checks"][-1]["detail"]
    calls, seen = asyncio.run(_load(group, token))
    assert len(calls) == CLIENTS * REFUNDS_EACH and not group.members[1].alive()
    assert any(s[0] == "transport" for s in seen), "clients did meet the dead process"
    assert all(s[0] == "transport" or s[2] for s in seen), seen  # and only retryable errors reached them

    # Rate limits: orders.get allows 10/minute for this agent, counted in Redis by all three.
    live = [m for m in group.members if m.alive()]
    statuses = [
        httpx.post(
            live[n % len(live)].url + "/v1/actions/orders.get",
            json={"order_id": "o_1001"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).status_code
        for n in range(20)
    ]
    assert statuses.count(200) == 10 and statuses.count(429) == 10

    async def check() -> dict[str, Any]:
        rt = make_runtime(shop, group.data_dir, database_url=group.database_url)
        async with rt.running():
            made = await rt.store.fetch_one(select(func.count().label("n")).select_from(refunds))
            indexes = [
                r["idx"]
                for r in await rt.store.fetch_all(
                    select(audit_entries.c.idx).where(audit_entries.c.tenant_id == TENANT).order_by(audit_entries.c.idx)
                )
            ]
            seqs = [
                r["seq"]
                for r in await rt.store.fetch_all(select(events.c.seq).where(events.c.tenant_id == TENANT).order_by(events.c.seq))
            ]
            refunded = await rt.store.fetch_one(
                select(func.count().label("n")).where(events.c.tenant_id == TENANT, events.c.type == "order.refunded")
            )
            logged = {
                r["call_id"]
                for r in await rt.store.fetch_all(select(audit_entries.c.call_id).where(audit_entries.c.tenant_id == TENANT))
            }
        assert made is not None and refunded is not None
        return {"refunds": made["n"], "indexes": indexes, "seqs": seqs, "refunded_events": refunded["n"], "logged": logged}

    state = asyncio.run(check())
    assert state["refunds"] == len(calls) == len(set(calls)), "every refund ran exactly once"
    assert state["indexes"] == list(range(len(state["indexes"]))), "the audit log has no gap and one order"
    assert state["seqs"] == list(range(state["seqs"][0], state["seqs"][0] + len(state["seqs"]))), "events are dense"
    assert state["refunded_events"] == len(calls), "every refund's event was kept"
    assert set(calls) <= state["logged"], "every refund is in the log"

    # And the log verifies offline, as an auditor would check it.
    env = {**os.environ, "CHAMBERLAIN_DATABASE_URL": group.database_url}
    cli, folder = [sys.executable, "-m", "chamberlain.cli"], ["--data-dir", str(group.data_dir)]
    key = subprocess.run([*cli, "audit", "key", "--tenant", TENANT, *folder], env=env, capture_output=True, text=True, check=True)
    (tmp_path / "key.pub").write_text(key.stdout)
    subprocess.run([*cli, "audit", "export", "--tenant", TENANT, "--out", str(tmp_path / "export"), *folder], env=env, check=True)
    verified = subprocess.run(
        [*cli, "audit", "verify", str(tmp_path / "export"), "--key", str(tmp_path / "key.pub")], capture_output=True, text=True
    )
    assert verified.returncode == 0 and verified.stdout.startswith("OK:"), verified.stdout + verified.stderr


def test_the_cluster_command_starts_and_stops_its_processes(tmp_path: Path) -> None:
    base = free_port()
    while any(_taken(base + n) for n in range(1, 2)):
        base = free_port()
    prefix = f"t{uuid.uuid4().hex[:10]}.events"
    env = {**os.environ, "CHAMBERLAIN_DATABASE_URL": backends.database_for(tmp_path), "CHAMBERLAIN_NATS_PREFIX": prefix}
    command = [sys.executable, "-m", "chamberlain.cli", "cluster", "--processes", "2", "--base-port", str(base)]
    proc = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path / "cluster")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    banner = ""
    try:
        assert proc.stdout is not None
        while "Press Ctrl+C" not in banner:
            line = proc.stdout.readline()
            assert line, "the cluster exited before it was up:\n" + banner
            banner += line
        assert banner.count("gateway pid") == 2 and "Tenant acme-shop: a grant" in banner
        for port in (base, base + 1):
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["status"] == "ready"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        asyncio.run(_drop_stream(stream_name(prefix)))
    assert not _taken(base) and not _taken(base + 1), "every gateway stopped with it"


def _taken(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
    except httpx.TransportError:
        return False
    return True
