"""Liveness and readiness: /healthz answers while the process runs, /readyz only while it can serve."""

from __future__ import annotations

import httpx

from chamberlain.health import readiness, schema_head
from chamberlain.store import PostgresStore
from tests.conftest import DemoServer


def test_ready_when_the_database_answers_at_the_current_schema(client: httpx.Client, demo_server: DemoServer) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.headers["cache-control"] == "no-store", ready.json()
    database, *others = ready.json()["checks"]
    assert database["name"] == "database" and database["ok"] and f"schema at {schema_head()}" in database["detail"]
    assert all(check["ok"] for check in others)  # on PostgreSQL: row-level security binds the gateway's role


async def test_not_ready_when_the_database_is_unreachable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/none")
    await store.open()
    try:
        (database,) = await readiness(store)
    finally:
        await store.close()
    assert not database.ok and "OperationalError" in database.detail and "postgresql" in database.detail
