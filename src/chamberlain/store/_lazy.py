"""A transaction that begins at its first statement."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from sqlalchemy import Executable, Table
from sqlalchemy.engine import Result

from ._base import Store, Transaction, Write


class LazyTransaction:
    """Begins the store's transaction only when a statement needs it.

    SQLite has a single writer. A handler that first waits on something slow (an
    upstream API, a model) must not hold the write lock meanwhile, and one that never
    touches the database must hold it only for its call record. Everything executed
    through this object still commits or rolls back as one unit.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._scope: AbstractAsyncContextManager[Transaction] | None = None
        self._tx: Transaction | None = None

    async def _begin(self, touches: Executable | Table | None = None) -> Transaction:
        """The transaction, begun now if need be; ``touches`` (what the statement is about)
        lets a subclass choose where to begin it."""
        if self._tx is None:
            self._scope = self._store.transaction()
            self._tx = await self._scope.__aenter__()
        return self._tx

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> Result[Any]:
        return await (await self._begin(statement)).execute(statement, params)

    async def insert(self, table: Table, row: Mapping[str, Any]) -> None:
        await (await self._begin(table)).insert(table, row)

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return await (await self._begin(table)).get(table, key)

    async def upsert(self, table: Table, row: Mapping[str, Any]) -> None:
        await (await self._begin(table)).upsert(table, row)

    async def lock(self, name: str) -> None:
        await (await self._begin()).lock(name)

    async def lock_and_get(self, name: str, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return await (await self._begin(table)).lock_and_get(name, table, key)

    async def write_all(self, writes: Sequence[Write]) -> None:
        if writes:
            await (await self._begin(writes[0][1])).write_all(writes)

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self._tx is None:
            raise RuntimeError("nothing was written yet: there is nothing to commit")
        self._tx.after_commit(callback)

    async def __aenter__(self) -> LazyTransaction:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if self._scope is None:
            return None
        return await self._scope.__aexit__(exc_type, exc, tb)
