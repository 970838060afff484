from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, inspect, select

from chamberlain.store import SQLiteStore, current_revision, metadata, open_store, tenants


async def test_migrations_match_the_metadata(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        inspector = inspect(store.engine)
        for table in metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
        assert current_revision(store.engine) == "0018"
    finally:
        await store.close()


async def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = await open_store(url)
    async with first.transaction() as tx:
        await tx.execute(insert(tenants).values(id="a", name="A", created_at="now"))
    await first.close()
    second = await open_store(url)
    try:
        assert [r["id"] for r in await second.fetch_all(select(tenants))] == ["a"]
    finally:
        await second.close()


async def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                await tx.execute(insert(tenants).values(id="gone", name="G", created_at="now"))
                raise RuntimeError("abort")
        async with store.transaction() as tx:
            await tx.insert(tenants, {"id": "kept", "name": "K", "created_at": "now"})
        assert [r["id"] for r in await store.fetch_all(select(tenants))] == ["kept"]
    finally:
        await store.close()


async def test_wal_mode_and_pragmas(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        engine = create_engine(store.url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        engine.dispose()
    finally:
        await store.close()


def test_non_sqlite_urls_are_refused() -> None:
    with pytest.raises(ValueError):
        SQLiteStore("postgresql://localhost/x")


async def test_group_commit_keeps_each_unit_atomic(tmp_path: Path) -> None:
    """Units that run together share a commit, yet one that fails (by raising, or on a
    constraint) takes only its own writes with it, and the others all land."""
    from sqlalchemy.exc import IntegrityError

    from chamberlain.store import _sqlite

    store = await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    groups: list[int] = []
    end = store._end_group

    def counting(group: _sqlite._Group, **kw: object) -> None:
        groups.append(group.units)
        end(group, **kw)  # type: ignore[arg-type]

    store._end_group = counting  # type: ignore[method-assign]

    async def unit(n: int) -> str:
        await asyncio.sleep(0)
        try:
            async with store.transaction() as tx:
                await tx.execute(insert(tenants).values(id=f"t{n}", name="T", created_at="now"))
                if n % 5 == 1:
                    raise RuntimeError("the handler failed")
                if n % 5 == 2:
                    await tx.execute(insert(tenants).values(id="t0", name="again", created_at="now"))
            return "ok"
        except RuntimeError:
            return "raised"
        except IntegrityError:
            return "conflict"

    try:
        async with store.transaction() as tx:
            await tx.execute(insert(tenants).values(id="t0", name="T", created_at="now"))
        outcomes = await asyncio.gather(*(unit(n) for n in range(1, 41)))
        stored = {r["id"] for r in await store.fetch_all(select(tenants))}
        assert stored == {"t0"} | {f"t{n}" for n in range(1, 41) if n % 5 not in (1, 2)}
        assert outcomes.count("raised") == 8 and outcomes.count("conflict") == 8
        assert max(groups) > 1, "no two units shared a commit: group commit did not happen"
    finally:
        await store.close()


async def test_a_cancelled_unit_does_not_strand_the_group(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:

        async def slow() -> None:
            async with store.transaction() as tx:
                await tx.execute(insert(tenants).values(id="slow", name="S", created_at="now"))
                await asyncio.sleep(10)

        async def fast() -> None:
            async with store.transaction() as tx:
                await tx.execute(insert(tenants).values(id="fast", name="F", created_at="now"))

        first = asyncio.create_task(fast())
        blocked = asyncio.create_task(slow())
        await asyncio.sleep(0.05)
        blocked.cancel()
        await asyncio.wait_for(first, 2)
        assert {r["id"] for r in await store.fetch_all(select(tenants))} == {"fast"}
    finally:
        await store.close()


async def test_wal_checkpoints_run_beside_the_event_loop(tmp_path: Path) -> None:
    """The writer never checkpoints inline (the slowest calls' latency); a thread does."""
    import sqlite3

    from chamberlain.store import _sqlite

    store = await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        writer = store._writer.connection.driver_connection  # type: ignore[union-attr]
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        for n in range(400):
            async with store.transaction() as tx:
                await tx.execute(insert(tenants).values(id=f"t{n}", name="T" * 500, created_at="now"))
            if n % 100 == 99:
                await asyncio.sleep(_sqlite._Checkpointer.INTERVAL_S * 2)
        probe = sqlite3.connect(tmp_path / "db.sqlite")
        frames = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        probe.close()
        # 400 commits wrote 400+ frames; checkpoints between them let the WAL start over.
        assert frames < 400  # about 230: the last hundred commits; without the thread about 930
    finally:
        await store.close()
