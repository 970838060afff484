"""Governed calls per second with 1, 2 and 3 gateway processes on PostgreSQL, against one
process on SQLite, and the audit log's append rate on PostgreSQL.

    python bench/cluster_throughput.py [--seconds 8] [--concurrency 16]

Needs the local PostgreSQL (as a role that may create roles and databases,
``CHAMBERLAIN_BENCH_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432``) and
Redis. Every process is a real ``chamberlain serve`` of the demo shop; the load is
``orders.get`` over REST (the whole pipeline: grant, tenant, validation, policy, the
handler's read, the call record and the audit entry, committed), from one client
process with ``--concurrency`` requests in flight, spread round-robin.

On a 2-core machine the processes, the database and the load generator share the two
cores, so this shows what more processes cost more than what they add; the numbers
say so honestly. The baseline is one process on SQLite, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import _load as load
import psycopg
from _load import percentile

from chamberlain import audit
from chamberlain.app import Runtime
from chamberlain.cluster import Cluster, wait_until_answering
from chamberlain.config import Settings
from chamberlain.demo import seed, shop
from chamberlain.store import PostgresStore, make_store, tenants

SERVER = os.environ.get("CHAMBERLAIN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
ROLE = "chamberlain_bench"
PORTS = [18300, 18301, 18302]


def fresh_database() -> str:
    name = f"chamberlain_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone() is None:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN")
        conn.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')
    host = SERVER.partition("://")[2].rpartition("@")[2]
    return f"postgresql://{ROLE}@{host}/{name}"


def drop_database(url: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def prepare(data: Path, database_url: str | None) -> str:
    rt = Runtime(shop, Settings(data_dir=data, database_url=database_url))
    async with rt.running():
        return (await seed(rt))[0].grant.token


async def drive(urls: list[str], token: str, seconds: float, concurrency: int) -> tuple[float, list[float], int]:
    """``orders.get`` over REST, round-robin over ``urls``."""
    targets = itertools.cycle(urls)
    headers = {"Authorization": f"Bearer {token}"}
    return await load.drive(
        lambda client: client.post(next(targets) + "/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=headers),
        seconds,
        concurrency,
    )


def run_cluster(size: int, data: Path, database_url: str, seconds: float, concurrency: int, token: str) -> dict[str, float]:
    group = Cluster("chamberlain.demo:shop", data, database_url, "redis://127.0.0.1:6379/0", size=size)
    try:
        group.start(ports=PORTS[:size])
        rate, latencies, failures = asyncio.run(drive([m.url for m in group.members], token, seconds, concurrency))
    finally:
        group.stop()
    return {"rate": rate, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "failures": failures}


def run_sqlite(data: Path, seconds: float, concurrency: int) -> dict[str, float]:
    token = asyncio.run(prepare(data, None))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chamberlain.cli", "serve", "chamberlain.demo:shop", "--port", str(PORTS[0])],
        env={**os.environ, "CHAMBERLAIN_DATA_DIR": str(data)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{PORTS[0]}", 30, process=proc)
        rate, latencies, failures = asyncio.run(drive([f"http://127.0.0.1:{PORTS[0]}"], token, seconds, concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return {"rate": rate, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "failures": failures}


async def appends(database_url: str, seconds: float, writers: int, tenant_count: int) -> float:
    """Audit entries committed per second by ``writers`` tasks, over ``tenant_count`` tenants."""
    store = make_store(database_url, pool_size=writers)
    assert isinstance(store, PostgresStore)
    await store.open()
    names = [f"bench-{n}" for n in range(tenant_count)]
    async with store.transaction() as tx:
        for name in names:
            if await tx.get(tenants, {"id": name}) is None:
                await tx.insert(tenants, {"id": name, "name": name, "created_at": "now"})
    count = 0
    deadline = time.perf_counter() + seconds

    async def writer(n: int) -> None:
        nonlocal count
        tenant = names[n % tenant_count]
        while time.perf_counter() < deadline:
            async with store.transaction() as tx:
                await audit.append(tx, tenant, "bench.entry", {"n": count})
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed = time.perf_counter() - began
    await store.close()
    return count / elapsed


def main(seconds: float, concurrency: int) -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["1 process, SQLite"] = run_sqlite(Path(tmp) / "sqlite", seconds, concurrency)
        database_url = fresh_database()
        try:
            token = asyncio.run(prepare(Path(tmp) / "pg", database_url))
            for size in (1, 2, 3):
                results[f"{size} process{'es' if size > 1 else ''}, PostgreSQL"] = run_cluster(
                    size, Path(tmp) / "pg", database_url, seconds, concurrency, token
                )
            append_rates = {
                (writers, spread): asyncio.run(appends(database_url, seconds / 2, writers, spread))
                for writers, spread in ((1, 1), (8, 1), (8, 8))
            }
        finally:
            drop_database(database_url)
    base = results["1 process, SQLite"]["rate"]
    pg_one = results["1 process, PostgreSQL"]["rate"]
    print(f"governed orders.get over REST, {concurrency} in flight, {seconds:g} s each (2 cores shared by everything):")
    for name, r in results.items():
        print(
            f"  {name:24} {r['rate']:7.0f} calls/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
            f"{r['rate'] / base:4.2f}x SQLite  {r['rate'] / pg_one:4.2f}x 1 process on PostgreSQL  failures {r['failures']:.0f}"
        )
    print("audit appends on PostgreSQL (a unit of work each, committed):")
    for (writers, spread), rate in append_rates.items():
        print(f"  {writers} writer(s) over {spread} tenant(s): {rate:7.0f} entries/s")
    # The baseline is the same writers spread over as many tenants: no one waits for a lock.
    print(f"  one tenant's log vs no lock contention: {append_rates[(8, 1)] / append_rates[(8, 8)]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    main(args.seconds, args.concurrency)
