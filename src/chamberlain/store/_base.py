"""The storage seam: a transaction to write in and a way to read.

Backends (SQLite now, PostgreSQL later) implement ``Store``; everything above
speaks SQLAlchemy Core statements to it, so queries are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

from sqlalchemy import Executable, MetaData, Table
from sqlalchemy.engine import Result, RowMapping


def tenant_lock(tenant: str) -> str:
    """The one lock a tenant's numbered writes take (audit entries, events, policy versions):
    one per tenant, so two of them can never be taken in opposite orders and deadlock."""
    return f"tenant-sequences:{tenant}"


Write = tuple[Literal["insert", "upsert"], Table, Mapping[str, Any]]
"""One hot-path write for ``Transaction.write_all``: what to do, to which table, the row."""


class DuplicateKey(Exception):
    """``Transaction.insert`` met a row with the same primary key (or another unique
    constraint): the portable name for each driver's integrity error on that path."""


class Transaction(Protocol):
    """One atomic unit of work; commits on clean exit, rolls back on error."""

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> Result[Any]: ...

    async def insert(self, table: Table, row: Mapping[str, Any]) -> None:
        """Insert one row on the hot path (call records, audit entries, outbox events).
        Raises ``DuplicateKey`` if the row's key is taken."""
        ...

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The row of ``table`` whose columns equal ``key``, read inside the transaction
        (so it sees the transaction's own writes and, holding the write lock, no one else's)."""
        ...

    async def upsert(self, table: Table, row: Mapping[str, Any]) -> None:
        """Insert ``row`` or, if its primary key exists, replace that row's other columns."""
        ...

    async def write_all(self, writes: Sequence[Write]) -> None:
        """Do ``writes`` in order, sent together where the backend can (one round trip on
        PostgreSQL): how a sequence's writes keep its lock held for as short as possible."""
        ...

    async def lock_and_get(self, name: str, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """``lock(name)``, then ``get(table, key)``, in one round trip where the backend can.
        The read comes after the lock is held, so it sees what the lock's last holder committed."""
        ...

    async def lock(self, name: str) -> None:
        """Hold the lock ``name`` until this unit ends, so units writing the same per-tenant
        sequence (audit entries, events) run one at a time across processes and commit in
        the order they numbered. SQLite's single writer is such a lock already."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this unit of work is committed (never if it rolls back):
        where news of a change is sent, so no one hears of a change that did not happen."""
        ...


class Store(Protocol):
    url: str

    def migrate(self) -> None:
        """Bring the database to the newest schema (Alembic; before ``open``)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def fetch_all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> list[RowMapping]: ...

    async def fetch_one(self, statement: Executable, params: Mapping[str, Any] | None = None) -> RowMapping | None: ...

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The committed row of ``table`` whose columns equal ``key`` (a keyed read on a hot path)."""
        ...

    async def create_all(self, metadata: MetaData) -> None:
        """Create ``metadata``'s tables that do not exist yet (a business's own tables)."""
        ...

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: not migrated)."""
        ...

    async def any_of(self, table: Table, tenant: str, column: str, values: Sequence[str]) -> bool:
        """Whether a row of ``tenant`` in ``table`` has ``column`` in ``values``.

        A hot-path read (revocations on every call), so backends answer it without the
        general statement machinery.
        """
        ...
