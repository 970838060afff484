from __future__ import annotations

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
        assert current_revision(store.engine) == "0007"
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
