"""The PostgreSQL store against the real local server (it runs in every backend's pass:
these are the store's own tests, not the suite's backend)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import insert, inspect, select

from chamberlain.store import (
    DuplicateKey,
    PostgresStore,
    audit_heads,
    make_store,
    metadata,
    revocations,
    tenant_lock,
    tenants,
)
from chamberlain.store._postgres import driver_url
from tests import backends


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[PostgresStore]:
    pg = make_store(backends.database_for(tmp_path))
    assert isinstance(pg, PostgresStore)
    pg.migrate()
    await pg.open()
    try:
        yield pg
    finally:
        await pg.close()


async def test_migrations_reach_head_and_match_the_metadata(store: PostgresStore) -> None:
    assert store.schema_revision() == "0018"
    engine = store.sync_engine()
    try:
        inspector = inspect(engine)
        for table in metadata.sorted_tables:
            columns = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert set(columns) == {c.name for c in table.columns}, table.name
        assert (
            inspector.get_columns("calls")[[c["name"] for c in inspector.get_columns("calls")].index("input_hash")]["type"].length
            == 80
        )
    finally:
        engine.dispose()
    store.migrate()  # again: nothing to do
    assert store.schema_revision() == "0018"


async def test_insert_get_upsert_and_duplicates(store: PostgresStore) -> None:
    async with store.transaction() as tx:
        await tx.insert(tenants, {"id": "a", "name": "A", "created_at": "now"})
        assert (await tx.get(tenants, {"id": "a"}) or {})["name"] == "A"  # its own write, inside
    with pytest.raises(DuplicateKey):
        async with store.transaction() as tx:
            await tx.insert(tenants, {"id": "a", "name": "again", "created_at": "now"})
    with pytest.raises(psycopg.errors.IntegrityError) as raised:  # a missing tenant is not a duplicate
        async with store.transaction() as tx:
            await tx.insert(revocations, {"grant_id": "g_1", "tenant_id": "nobody", "revoked_at": "now", "reason": "x"})
    assert not isinstance(raised.value, DuplicateKey)
    async with store.transaction() as tx:
        await tx.upsert(audit_heads, {"tenant_id": "a", "size": 1, "frontier": b"\x01", "last_leaf": b"\x02"})
        await tx.upsert(audit_heads, {"tenant_id": "a", "size": 2, "frontier": b"\x03", "last_leaf": b"\x04"})
    head = await store.get(audit_heads, {"tenant_id": "a"})
    assert head is not None and (head["size"], head["frontier"]) == (2, b"\x03")
    assert await store.any_of(audit_heads, "a", "tenant_id", ["zz", "a"])
    assert not await store.any_of(audit_heads, "b", "tenant_id", ["a"])
    assert not await store.any_of(audit_heads, "a", "tenant_id", [])


async def test_a_failed_unit_leaves_nothing_and_runs_no_callback(store: PostgresStore) -> None:
    heard: list[str] = []
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.execute(insert(tenants).values(id="gone", name="G", created_at="now"))
            tx.after_commit(lambda: heard.append("gone"))
            raise RuntimeError("abort")
    async with store.transaction() as tx:
        await tx.insert(tenants, {"id": "kept", "name": "K", "created_at": "now"})
        tx.after_commit(lambda: heard.append("kept"))
    assert [r["id"] for r in await store.fetch_all(select(tenants))] == ["kept"] and heard == ["kept"]


async def test_the_tenant_lock_makes_the_second_writer_wait_for_the_first(store: PostgresStore) -> None:
    """The second unit takes the lock only once the first committed, so it reads what the
    first wrote: how a tenant's sequences stay dense and in commit order."""
    first_has_lock, seen = asyncio.Event(), []

    async def first() -> None:
        async with store.transaction() as tx:
            await tx.lock(tenant_lock("acme"))
            first_has_lock.set()
            await asyncio.sleep(0.2)  # hold it while the second one asks
            await tx.insert(tenants, {"id": "first", "name": "F", "created_at": "now"})

    async def second() -> None:
        await first_has_lock.wait()
        async with store.transaction() as tx:
            await tx.lock(tenant_lock("acme"))
            seen.extend(r[0] for r in await tx.execute(select(tenants.c.id)))

    await asyncio.gather(first(), second())
    assert seen == ["first"]


async def test_lock_and_get_reads_what_the_previous_holder_committed(store: PostgresStore) -> None:
    """Lock and read go in one pipeline: the read must still come after the wait, with a
    snapshot of its own, or two appends would number from the same head."""
    async with store.transaction() as tx:
        await tx.insert(tenants, {"id": "acme", "name": "A", "created_at": "now"})
    first_has_lock, seen = asyncio.Event(), []

    async def first() -> None:
        async with store.transaction() as tx:
            await tx.lock_and_get(tenant_lock("acme"), audit_heads, {"tenant_id": "acme"})
            first_has_lock.set()
            await asyncio.sleep(0.2)
            await tx.write_all([("upsert", audit_heads, {"tenant_id": "acme", "size": 7, "frontier": b"", "last_leaf": b""})])

    async def second() -> None:
        await first_has_lock.wait()
        async with store.transaction() as tx:
            seen.append(await tx.lock_and_get(tenant_lock("acme"), audit_heads, {"tenant_id": "acme"}))

    await asyncio.gather(first(), second())
    assert [row and row["size"] for row in seen] == [7]


async def test_write_all_refuses_a_duplicate_and_keeps_nothing(store: PostgresStore) -> None:
    row = {"id": "a", "name": "A", "created_at": "now"}
    with pytest.raises(DuplicateKey):
        async with store.transaction() as tx:
            await tx.write_all([("insert", tenants, row), ("insert", tenants, {**row, "id": "b"}), ("insert", tenants, row)])
    assert await store.fetch_all(select(tenants)) == []


async def test_other_tenants_do_not_wait(store: PostgresStore) -> None:
    holding, done = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with store.transaction() as tx:
            await tx.lock(tenant_lock("acme"))
            holding.set()
            await done.wait()  # released only once the other tenant got through

    async def other() -> None:
        await holding.wait()
        async with store.transaction() as tx:
            await tx.lock(tenant_lock("globex"))
        done.set()

    await asyncio.wait_for(asyncio.gather(holder(), other()), 10)


def test_urls_name_the_driver_and_pgbouncer_settings() -> None:
    url, args = driver_url("postgresql://app:secret@db:6432/chamberlain?prepare_threshold=none&sslmode=require")
    assert url == "postgresql+psycopg://app:secret@db:6432/chamberlain?sslmode=require"
    assert args == {"prepare_threshold": None}
    assert isinstance(make_store("postgres://db/x"), PostgresStore)
    with pytest.raises(ValueError, match="unsupported database URL"):
        make_store("mysql://db/x")
