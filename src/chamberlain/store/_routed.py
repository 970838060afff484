"""Hybrid tenancy: one ``Store`` that sends each unit of work to the database of its tenant.

The gateway's code speaks to one store; with silos configured (``_placement``) that store
is a ``TenantRouter``, which picks the database per statement, from what is already known
where the statement runs:

* **Control tables** (``tenants``, ``tenant_keys``, ``oauth_clients``) always live in the
  shared *home* database: they are what is looked up before a tenant is known (the key
  a grant names, the client a token request names), and key ids stay unique across
  every database. A silo keeps a copy of its tenant's ``tenants`` row, for its foreign
  keys, written when the router first opens the silo for that tenant.
* **Everything else** goes to the database of the current tenant scope (``_scope``), the
  same scope row-level security enforces, set where the grant's tenant becomes known.
* Without a tenant scope (the gateway's own work across tenants) a read is asked of every
  database and the rows joined, and a write is refused (``UnscopedWrite``) unless a loop
  that works database by database pinned one (``each_database`` with ``database_scope``):
  a write that does not say whose it is cannot be placed, and guessing would put a
  tenant's rows in someone else's database.

One unit of work stays in one database (``CrossDatabase`` otherwise): the router never
pretends two databases commit together.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Executable, MetaData, Table, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.util import find_tables

from ._base import Store, Transaction
from ._lazy import LazyTransaction
from ._placement import Placements
from ._schema import tenants
from ._scope import ALL_TENANTS, current_scope, tenant_scope

__all__ = [
    "CONTROL_TABLES",
    "AmbiguousRead",
    "CrossDatabase",
    "TenantRouter",
    "UnscopedWrite",
    "database_scope",
    "each_database",
    "in_every_database",
    "tenant_transaction",
]

CONTROL_TABLES = frozenset({"tenants", "tenant_keys", "oauth_clients", "upstream_tools"})
"""Tables kept in the home database whatever the placement: looked up before a tenant is
known, or the operator's rather than a tenant's (the pins of upstream MCP tools)."""

DIRECTORY_TTL_S = 5.0
"""How long the list of tenants (whose silos a sweep visits) is reused before it is read again."""

_pinned: ContextVar[Store | None] = ContextVar("chamberlain_database", default=None)

Touches = Executable | Table | None


class UnscopedWrite(RuntimeError):
    """A write outside any tenant scope, with silos configured: it cannot be placed."""


class AmbiguousRead(RuntimeError):
    """A single-row read outside any tenant scope found rows in several databases."""


class CrossDatabase(RuntimeError):
    """One unit of work reached two databases; they cannot commit as one."""


@contextmanager
def database_scope(database: Store) -> Iterator[None]:
    """Within this block, work outside a tenant scope goes to ``database`` (one of those
    ``each_database`` listed): how the gateway's sweeps visit every database in turn."""
    token = _pinned.set(database)
    try:
        yield
    finally:
        _pinned.reset(token)


def tenant_transaction(
    store: Store, tenant: str | None, tx: Transaction | None = None
) -> AbstractAsyncContextManager[Transaction]:
    """The caller's unit of work ``tx`` if it has one, else a new one of ``tenant``'s: in
    the tenant's database and, on PostgreSQL, seeing only its rows. Services that write
    for a named tenant begin their units here, whichever surface called them. With no
    tenant (a call refused before its grant named one) the unit is the gateway's own, in
    the home database."""
    if tx is not None:
        return nullcontext(tx)
    return _in_scope(store, tenant)


@asynccontextmanager
async def _in_scope(store: Store, tenant: str | None) -> AsyncIterator[Transaction]:
    scope = database_scope(store.home if isinstance(store, TenantRouter) else store) if tenant is None else tenant_scope(tenant)
    with scope:
        async with store.transaction() as tx:
            yield tx


async def each_database(store: Store) -> list[Store]:
    """The databases behind ``store``: itself, or the home database and every silo."""
    return await store.databases() if isinstance(store, TenantRouter) else [store]


async def in_every_database(store: Store, work: Callable[[Transaction], Awaitable[int]]) -> int:
    """Run ``work`` (the gateway's own upkeep across tenants: pruning) in a unit of work in
    each database behind ``store``; the sum of what it returned."""
    done = 0
    for database in await each_database(store):
        with database_scope(database):
            async with store.transaction() as tx:
                done += await work(tx)
    return done


_MIGRATING = threading.Lock()


def _migrate(store: Store) -> None:
    """Alembic keeps its running migration in module state: one at a time per process."""
    with _MIGRATING:
        store.migrate()


def _tables(touches: Touches) -> frozenset[str]:
    if touches is None:
        return frozenset()
    if isinstance(touches, Table):
        return frozenset((touches.name,))
    return frozenset(t.name for t in find_tables(touches, include_crud=True) if isinstance(t, Table))  # type: ignore[arg-type]


def _is_control(touches: Touches) -> bool:
    names = _tables(touches)
    return bool(names) and names <= CONTROL_TABLES


class TenantRouter:
    """The home database plus the silos ``placements`` names, behind the ``Store`` seam."""

    def __init__(self, home: Store, placements: Placements, make: Callable[[str], Store]) -> None:
        self.home = home
        self.url = home.url
        self.placements = placements
        self._make = make
        self._silos: dict[str, Store] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._seeded: set[str] = set()
        self._metadata: list[MetaData] = []
        self._directory: tuple[float, list[str]] = (-DIRECTORY_TTL_S, [])
        self.migrates = True
        """Whether a silo first opened by this process is brought to the newest schema."""

    # -- life cycle ---------------------------------------------------------------

    def migrate(self) -> None:
        """The home database and every silo placed by name (those placed by ``*`` are
        brought to the newest schema when first opened)."""
        self.home.migrate()
        for url in self.placements.named():
            self._make(url).migrate()

    async def open(self) -> None:
        await self.home.open()
        for url in self.placements.named():
            await self._silo_at(url, migrate=False)  # ``migrate`` ran before ``open``

    async def close(self) -> None:
        silos, self._silos = list(self._silos.values()), {}
        self._seeded.clear()
        for store in silos:
            await store.close()
        await self.home.close()

    def schema_revision(self) -> str | None:
        return self.home.schema_revision()

    async def create_all(self, metadata: MetaData) -> None:
        """In every database, now and as silos open: a business's tables follow its tenants."""
        self._metadata.append(metadata)
        for store in [self.home, *self._silos.values()]:
            await store.create_all(metadata)

    # -- placement ----------------------------------------------------------------

    async def store_for(self, tenant: str) -> Store:
        """The database holding ``tenant``'s rows (opened, migrated and given the tenant's
        directory row on first use)."""
        url = self.placements.url_for(tenant)
        if url is None:
            return self.home
        store = self._silos.get(url) or await self._silo_at(url)
        if tenant not in self._seeded:
            await self._seed(tenant, store)
        return store

    async def databases(self) -> list[Store]:
        """Home first, then each silo in use: those named, and those of the tenants in the
        directory when ``*`` places every tenant."""
        urls = set(self.placements.named())
        if ALL_TENANTS in self.placements.silos:
            for tenant in await self._tenant_ids():
                urls.add(self.placements.url_for(tenant))  # type: ignore[arg-type]
        return [self.home, *[self._silos.get(url) or await self._silo_at(url) for url in sorted(urls)]]

    async def _tenant_ids(self) -> list[str]:
        read_at, ids = self._directory
        if time.monotonic() - read_at > DIRECTORY_TTL_S:
            ids = [r["id"] for r in await self.home.fetch_all(select(tenants.c.id))]
            self._directory = (time.monotonic(), ids)
        return ids

    async def _silo_at(self, url: str, *, migrate: bool = True) -> Store:
        lock = self._opening.setdefault(url, asyncio.Lock())
        async with lock:  # two calls of a new tenant at once open its silo once
            store = self._silos.get(url)
            if store is None:
                store = self._make(url)
                if migrate and self.migrates:
                    await asyncio.to_thread(_migrate, store)
                await store.open()
                for metadata in self._metadata:
                    await store.create_all(metadata)
                self._silos[url] = store
        return store

    async def _seed(self, tenant: str, store: Store) -> None:
        row = await self.home.fetch_one(select(tenants).where(tenants.c.id == tenant))
        if row is None:
            return  # not created (yet): its writes fail on the foreign key, as in the home database
        with tenant_scope(tenant):
            async with store.transaction() as tx:
                await tx.upsert(tenants, dict(row))
        self._seeded.add(tenant)

    async def _data_store(self) -> Store:
        """Where a statement on tenant rows goes in the current context."""
        scope = current_scope()
        if scope != ALL_TENANTS:
            return await self.store_for(scope)
        pinned = _pinned.get()
        if pinned is None:
            raise UnscopedWrite(
                "a write outside any tenant scope cannot be placed with tenant databases configured: "
                "run it in tenant_scope(tenant), or per database (each_database, database_scope)"
            )
        if pinned is not self.home and pinned not in self._silos.values():
            raise RuntimeError("database_scope names a database this router does not hold")
        return pinned

    async def target(self, touches: Touches) -> Store:
        """The one database a statement in a unit of work goes to."""
        return self.home if _is_control(touches) else await self._data_store()

    async def _readers(self, touches: Touches, tenant: str | None = None) -> list[Store]:
        if _is_control(touches):
            return [self.home]
        if current_scope() != ALL_TENANTS or _pinned.get() is not None:
            return [await self._data_store()]
        if tenant is not None:
            return [await self.store_for(tenant)]
        return await self.databases()

    # -- the Store seam -----------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        scope, pinned = current_scope(), _pinned.get()
        pooled = (scope != ALL_TENANTS and self.placements.url_for(scope) is None) or (
            scope == ALL_TENANTS and pinned is self.home
        )
        if pooled:  # one database whatever the statements: no need to look at them
            async with self.home.transaction() as tx:
                yield tx
            return
        async with RoutedTransaction(self) as routed:
            yield routed

    async def fetch_all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        rows: list[RowMapping] = []
        for store in await self._readers(statement):
            rows.extend(await store.fetch_all(statement, params))
        return rows

    async def fetch_one(self, statement: Executable, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        found = [row for store in await self._readers(statement) if (row := await store.fetch_one(statement, params))]
        return _the_one(found)

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        found = [row for store in await self._readers(table, key.get("tenant_id")) if (row := await store.get(table, key))]
        return _the_one(found)

    async def any_of(self, table: Table, tenant: str, column: str, values: Sequence[str]) -> bool:
        store = self.home if table.name in CONTROL_TABLES else await self.store_for(tenant)
        return await store.any_of(table, tenant, column, values)


def _the_one(found: list[Any]) -> Any:
    """The row a read found in one database. Found in several, it is an aggregate (every
    database answers a count) or a lookup that is not about one tenant: which answer is
    right cannot be told, so none is given."""
    if len(found) > 1:
        raise AmbiguousRead(
            "a read outside any tenant scope found a row in several databases (an aggregate?): "
            "run it in tenant_scope(tenant), or read every row with fetch_all"
        )
    return found[0] if found else None


class RoutedTransaction(LazyTransaction):
    """A unit of work that begins in the database its first statement belongs to."""

    def __init__(self, router: TenantRouter) -> None:
        super().__init__(router.home)
        self._router = router

    async def _begin(self, touches: Touches = None) -> Transaction:
        target = await self._router.target(touches)
        if self._tx is None:
            self._store = target
        elif target is not self._store:
            raise CrossDatabase(
                "one unit of work reached two databases (a control table and a silo's tenant rows); "
                "they cannot commit as one: split it"
            )
        return await super()._begin(touches)
