"""The production store: PostgreSQL through SQLAlchemy's asyncio engine and psycopg 3.

Many gateway processes share one database, so what SQLite's single writer gave for
free is asked for explicitly here: a tenant's sequences (audit log entries, events,
policy versions) are written under a transaction-scoped advisory lock per tenant
(``Transaction.lock``), so numbers are dense, in commit order, and never handed out
twice. Every unit of work, reads included, runs in a transaction that first sets the
tenant scope, which row-level security enforces (``rls.py``, ``_scope.py``).

psycopg 3 was chosen over asyncpg for its plain DB-API behaviour under SQLAlchemy,
native ``json``/``bytea`` handling, and a documented way to run behind PgBouncer in
transaction mode (no server-side prepared statements: ``?prepare_threshold=none``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Json
from sqlalchemy import Executable, MetaData, Table, and_, bindparam, create_engine, literal, select
from sqlalchemy.engine import Engine, Result, RowMapping, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ._base import DuplicateKey, Write
from ._plans import insert_plan, select_plan, upsert_plan
from ._scope import current_scope
from .rls import isolate

log = logging.getLogger("chamberlain.store")

_UNIQUE_VIOLATION = "23505"
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


def _to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def driver_url(url: str) -> tuple[str, dict[str, Any]]:
    """``postgresql://...`` as SQLAlchemy's psycopg URL, and the connect arguments its
    query named (``prepare_threshold=none`` turns server-side prepared statements off,
    for PgBouncer in transaction mode)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    connect_args: dict[str, Any] = {}
    if "prepare_threshold" in query:
        value = str(query.pop("prepare_threshold"))
        connect_args["prepare_threshold"] = None if value.lower() == "none" else int(value)
    parsed = parsed.set(drivername="postgresql+psycopg", query=query)
    return parsed.render_as_string(hide_password=False), connect_args


class PostgresTransaction:
    """The hot paths (``insert``, ``get``, ``upsert``, ``lock``: a call record, an audit
    entry, the log's head) go to psycopg directly, inside the transaction SQLAlchemy
    began: SQLAlchemy's per-statement work costs more than PostgreSQL's, as on SQLite."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._driver: Any = None
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> Result[Any]:
        return await self._conn.execute(statement, params)

    async def _connection(self) -> Any:
        if self._driver is None:
            self._driver = (await self._conn.get_raw_connection()).driver_connection
        return self._driver

    async def _cursor(self) -> Any:
        return (await self._connection()).cursor()

    async def _run(self, sql: str, values: Sequence[Any]) -> Any:
        cursor = await self._cursor()
        await cursor.execute(sql, values)
        return cursor

    async def insert(self, table: Table, row: Mapping[str, Any]) -> None:
        sql, columns, json_columns = insert_plan(table, "%s")
        try:
            await self._run(sql, _values(row, columns, json_columns))
        except psycopg.errors.UniqueViolation as err:
            raise DuplicateKey(f"{table.name}: {err}") from err

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        sql, columns = select_plan(table, tuple(key), "%s")
        found = await (await self._run(sql, list(key.values()))).fetchone()
        return dict(zip(columns, found, strict=True)) if found is not None else None

    async def upsert(self, table: Table, row: Mapping[str, Any]) -> None:
        sql, columns, json_columns = upsert_plan(table, "%s")
        await self._run(sql, _values(row, columns, json_columns))

    async def lock(self, name: str) -> None:
        """Until this transaction ends, no other one holding the same ``name`` runs past here."""
        await self._run(_LOCK, (name,))

    async def lock_and_get(self, name: str, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """Both statements in one pipeline: one round trip. Each statement of a pipeline
        takes its own snapshot (READ COMMITTED), so the read, run once the lock is held,
        sees the row as the lock's previous holder committed it."""
        sql, columns = select_plan(table, tuple(key), "%s")
        driver = await self._connection()
        async with driver.pipeline():
            await driver.cursor().execute(_LOCK, (name,))
            read = driver.cursor()
            await read.execute(sql, list(key.values()))
        found = await read.fetchone()
        return dict(zip(columns, found, strict=True)) if found is not None else None

    async def write_all(self, writes: Sequence[Write]) -> None:
        """Every write in one pipeline: one round trip, whatever their number."""
        driver = await self._connection()
        try:
            async with driver.pipeline():
                cursor = driver.cursor()
                for kind, table, row in writes:
                    sql, columns, json_columns = (insert_plan if kind == "insert" else upsert_plan)(table, "%s")
                    await cursor.execute(sql, _values(row, columns, json_columns))
        except psycopg.errors.UniqueViolation as err:
            raise DuplicateKey(str(err)) from err


def _values(row: Mapping[str, Any], columns: tuple[str, ...], json_columns: frozenset[str]) -> list[Any]:
    return [Json(row.get(c), dumps=_to_json) if c in json_columns and row.get(c) is not None else row.get(c) for c in columns]


@functools.cache
def _keyed(table: Table, columns: tuple[str, ...]) -> Any:
    return select(table).where(and_(*(table.c[c] == bindparam(c) for c in columns)))


class PostgresStore:
    """``postgresql://user@host:port/database``: a pool of connections shared by the process."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError(f"not a PostgreSQL URL: {url!r}")
        self.url = url
        self._driver_url, self._connect_args = driver_url(url.replace("postgres://", "postgresql://", 1))
        self._pool = (pool_size, max_overflow)
        self._engine: AsyncEngine | None = None

    def sync_engine(self) -> Engine:
        """A short-lived synchronous engine (migrations, schema checks); dispose it after use."""
        return create_engine(self._driver_url, connect_args=self._connect_args, json_serializer=_to_json)

    def migrate(self) -> None:
        from ._migrate import upgrade

        engine = self.sync_engine()
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    async def open(self) -> None:
        pool_size, max_overflow = self._pool
        self._engine = create_async_engine(
            self._driver_url,
            connect_args=self._connect_args,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            json_serializer=_to_json,
            json_deserializer=orjson.loads,
        )

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None

    def _open_engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("store is not open")
        return self._engine

    @asynccontextmanager
    async def _scoped(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that sees only the current scope's rows: the
        setting is transaction-local, so it cannot outlive the unit (nor follow a pooled
        connection, or a PgBouncer server connection, to someone else)."""
        async with self._open_engine().connect() as conn:
            async with conn.begin():
                driver: Any = (await conn.get_raw_connection()).driver_connection
                await driver.execute("SELECT set_config('chamberlain.tenant', %s, true)", (current_scope(),))
                yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        async with self._scoped() as conn:
            unit = PostgresTransaction(conn)
            yield unit
        for callback in unit.committed:
            try:
                callback()
            except Exception:
                log.exception("an after-commit callback failed; the commit stands")

    async def fetch_all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        async with self._scoped() as conn:
            return list((await conn.execute(statement, params)).mappings())

    async def fetch_one(self, statement: Executable, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        rows = await self.fetch_all(statement, params)
        return rows[0] if rows else None

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        row = await self.fetch_one(_keyed(table, tuple(key)), dict(key))
        return dict(row) if row is not None else None

    async def any_of(self, table: Table, tenant: str, column: str, values: Sequence[str]) -> bool:
        if not values:
            return False
        statement = select(literal(1)).where(table.c.tenant_id == tenant, table.c[column].in_(list(values))).limit(1)
        return await self.fetch_one(statement) is not None

    def schema_revision(self) -> str | None:
        from ._migrate import current_revision

        engine = self.sync_engine()
        try:
            return current_revision(engine)
        finally:
            engine.dispose()

    async def create_all(self, metadata: MetaData) -> None:
        """Create the tables of ``metadata`` that do not exist yet (a business's own tables).
        Those with a ``tenant_id`` column get the gateway's row-level security policy too,
        so a handler's query that forgets its tenant filter sees its own tenant's rows only."""
        async with self._open_engine().begin() as conn:
            await conn.run_sync(metadata.create_all)
            for table in metadata.sorted_tables:
                if "tenant_id" in table.c:
                    for statement in isolate(table.name):
                        await conn.exec_driver_sql(statement)
