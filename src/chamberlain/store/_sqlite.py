"""The embedded default: SQLite in WAL mode with a single writer.

SQLite allows one writer at a time; rather than let connections fight over the
lock (``database is locked``), every write goes through one connection guarded
by an asyncio lock and opened with ``BEGIN IMMEDIATE`` (the Datasette pattern).
Statements run inline on the event loop: a WAL commit with ``synchronous=NORMAL``
costs tens of microseconds, less than a hop to a worker thread would.

Group commit: a commit costs more than a call's own writes (its record and audit
entry), so units of work that run close together share one SQLite transaction, each
inside a SAVEPOINT of its own. A unit that fails rolls back to its savepoint and
leaves the others alone. The group commits once every task that was runnable when
the last unit finished had its chance to join (one turn of the event loop, so a lone
call waits microseconds), or when it is full or 2 ms old. Every unit returns only
after that commit, so no caller sees a success that was not committed, nor an effect
without its record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Executable, MetaData, RootTransaction, Table, create_engine, event
from sqlalchemy.engine import Result, RowMapping
from sqlalchemy.pool import StaticPool

from ._base import DuplicateKey, Write
from ._plans import insert_plan, select_plan, upsert_plan

log = logging.getLogger("chamberlain.store")


def _get_row(driver: Any, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row of ``table`` whose columns equal ``key``, straight from the driver (a keyed
    lookup on a hot path costs less than SQLAlchemy's per-statement machinery)."""
    json_columns = insert_plan(table, "?")[2]
    sql, columns = select_plan(table, tuple(key), "?")
    found = driver.execute(sql, tuple(key.values())).fetchone()
    if found is None:
        return None
    return {c: orjson.loads(v) if c in json_columns and v is not None else v for c, v in zip(columns, found, strict=True)}


class SQLiteTransaction:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.committed: list[Callable[[], None]] = []
        """Callbacks for after the commit; handed to the group only if this unit succeeds."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    async def insert(self, table: Table, row: Mapping[str, Any]) -> None:
        # Straight to the driver, inside the transaction SQLAlchemy began: the hot path
        # writes one record per call and SQLAlchemy's per-statement machinery would
        # cost more than SQLite's own insert.
        sql, columns, json_columns = insert_plan(table, "?")
        values = [_to_json(row.get(c)) if c in json_columns else row.get(c) for c in columns]
        try:
            self._driver().execute(sql, values)
        except sqlite3.IntegrityError as err:
            raise DuplicateKey(f"{table.name}: {err}") from err

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return _get_row(self._driver(), table, key)

    async def lock(self, name: str) -> None:
        """Nothing to do: this unit holds SQLite's only write lock already."""

    async def lock_and_get(self, name: str, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return _get_row(self._driver(), table, key)

    async def write_all(self, writes: Sequence[Write]) -> None:
        for kind, table, row in writes:
            await (self.insert if kind == "insert" else self.upsert)(table, row)

    async def upsert(self, table: Table, row: Mapping[str, Any]) -> None:
        sql, columns, json_columns = upsert_plan(table, "?")
        self._driver().execute(sql, [_to_json(row.get(c)) if c in json_columns else row.get(c) for c in columns])

    def _driver(self) -> Any:
        return self._conn.connection.driver_connection

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> Result[Any]:
        return self._conn.execute(statement, params)


@functools.cache
def _any_of_sql(table: str, column: str, count: int) -> str:
    marks = ", ".join("?" for _ in range(count))
    return f"SELECT 1 FROM {table} WHERE tenant_id = ? AND {column} IN ({marks}) LIMIT 1"


def _to_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _engine(url: str, begin: str | None) -> Engine:
    engine = create_engine(
        url,
        poolclass=StaticPool,
        connect_args={"check_same_thread": False},
        json_serializer=_to_json,
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

    return engine


class _Checkpointer(threading.Thread):
    """Runs SQLite's WAL checkpoints off the event loop, on its own connection.

    PASSIVE checkpoints never wait for readers or the writer, so they never block a call;
    one that cannot finish now finishes on a later round (SQLite also checkpoints when
    the last connection to the file closes).
    """

    INTERVAL_S = 0.25

    def __init__(self, path: Path) -> None:
        super().__init__(name=f"sqlite-checkpoint:{path.name}", daemon=True)
        self._path = path
        self._stopped = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            while not self._stopped.wait(self.INTERVAL_S):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            log.exception("WAL checkpoint of %s failed; SQLite will checkpoint when the writer closes", self._path)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=10)


class _Group:
    """One SQLite transaction shared by the units of work that queued for it."""

    def __init__(self, root: RootTransaction) -> None:
        self.root = root
        self.units = 0
        self.callbacks: list[Callable[[], None]] = []
        self.scheduled = False
        self.started = time.perf_counter()
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()


def _nothing_else_runnable(loop: asyncio.AbstractEventLoop) -> bool:
    """No other task can join before the next turn, so waiting for one would only add
    latency. Reads asyncio's ready queue (a private attribute); on a loop without it
    (uvloop), assume others may be runnable."""
    ready = getattr(loop, "_ready", None)
    return ready is not None and not ready


GROUP_MAX_UNITS = 64
GROUP_MAX_AGE_S = 0.002
"""A group commits once it holds this many units or is this old, whoever else is runnable."""


class SQLiteStore:
    """``sqlite:///path/to/file.db``; the folder is created if missing."""

    def __init__(self, url: str) -> None:
        if not url.startswith("sqlite:///"):
            raise ValueError(f"not a SQLite URL: {url!r}")
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///"))
        self._write_lock = asyncio.Lock()
        self._group: _Group | None = None
        self._writer: Connection | None = None
        self._reader: Connection | None = None
        self._engine: Engine | None = None
        self._reader_engine: Engine | None = None
        self._checkpointer: _Checkpointer | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("store is not open")
        return self._engine

    def migrate(self) -> None:
        """Bring the file to the newest schema (before ``open``; creates the file)."""
        from ._migrate import upgrade

        self.path.parent.mkdir(parents=True, exist_ok=True)
        engine = _engine(self.url, "BEGIN IMMEDIATE")
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = _engine(self.url, "BEGIN IMMEDIATE")
        self._writer = self._engine.connect()
        # Checkpoints copy the WAL into the database file and fsync it: done inline by the
        # commit that crosses the threshold, they are the slowest calls' latency. A thread
        # of its own does them instead, beside the event loop (sqlite3 releases the GIL).
        self._writer.connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
        self._checkpointer = _Checkpointer(self.path)
        self._checkpointer.start()
        # A second engine so reads see committed data while a write is open. Its reads run
        # in SQLite's autocommit mode: each SELECT is its own consistent snapshot, and the
        # hot path (the revocation check on every call) pays no BEGIN/ROLLBACK round trip.
        self._reader_engine = _engine(self.url, None)
        self._reader = self._reader_engine.connect()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        for engine in (self._engine, self._reader_engine):
            if engine is not None:
                engine.dispose()
        self._writer = self._reader = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteTransaction]:
        conn = self._writer
        if conn is None:
            raise RuntimeError("store is not open")
        await self._write_lock.acquire()
        group, failed = self._group, False
        try:
            if group is None:
                group = self._group = _Group(conn.begin())
            group.units += 1
            # The first unit needs no savepoint: if it fails, the group holds nothing else.
            # Savepoints go straight to the driver: SQLAlchemy's cost ~30x more than SQLite's.
            driver = conn.connection.driver_connection
            savepoint = group.units > 1
            if savepoint:
                driver.execute("SAVEPOINT unit")  # type: ignore[union-attr]
            unit = SQLiteTransaction(conn)
            try:
                yield unit
            except BaseException:
                failed = True
                if savepoint:
                    driver.execute("ROLLBACK TO unit")  # type: ignore[union-attr]
                    driver.execute("RELEASE unit")  # type: ignore[union-attr]
                else:
                    self._end_group(group, rollback=True)
                raise
            if savepoint:
                driver.execute("RELEASE unit")  # type: ignore[union-attr]
            group.callbacks.extend(unit.committed)
        except BaseException as err:
            if group is not None and self._group is group and not failed:
                self._end_group(group, error=err)  # the connection itself failed: the whole group does
            raise
        finally:
            if group is not None and self._group is group:
                self._schedule_commit(group)
            self._write_lock.release()
        await asyncio.shield(group.committed)

    def _schedule_commit(self, group: _Group) -> None:
        """Commit once the tasks already runnable had their chance to join the group, or now
        if the group is full or old."""
        loop = asyncio.get_running_loop()
        full = group.units >= GROUP_MAX_UNITS or time.perf_counter() - group.started >= GROUP_MAX_AGE_S
        if full or _nothing_else_runnable(loop):
            self._end_group(group)
        elif not group.scheduled:
            group.scheduled = True
            loop.call_soon(self._commit_when_idle, group, group.units)

    def _commit_when_idle(self, group: _Group, units_then: int) -> None:
        if self._group is not group:
            return
        group.scheduled = False
        if self._write_lock.locked():
            return  # a unit is inside; it schedules the commit again when it leaves
        if group.units > units_then and time.perf_counter() - group.started < GROUP_MAX_AGE_S:
            group.scheduled = True  # still growing: give the next round of tasks a chance too
            asyncio.get_running_loop().call_soon(self._commit_when_idle, group, group.units)
            return
        self._end_group(group)

    def _end_group(self, group: _Group, *, rollback: bool = False, error: BaseException | None = None) -> None:
        self._group = None
        try:
            if rollback or error is not None:
                group.root.rollback()
            else:
                group.root.commit()
        except Exception as err:
            group.root.rollback()
            error = err
        if error is not None:
            group.committed.set_exception(error if isinstance(error, Exception) else RuntimeError("cancelled"))
            group.committed.exception()  # retrieved here too: a group of one failed unit has no other waiter
        else:
            group.committed.set_result(None)
            if rollback:
                return
            for callback in group.callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("an after-commit callback failed; the commit stands")

    def _read_conn(self) -> Connection:
        if self._reader is None:
            raise RuntimeError("store is not open")
        return self._reader

    async def fetch_all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        conn = self._read_conn()
        try:
            return list(conn.execute(statement, params).mappings())
        finally:
            conn.rollback()

    async def any_of(self, table: Table, tenant: str, column: str, values: Sequence[str]) -> bool:
        if not values:
            return False
        sql = _any_of_sql(table.name, table.c[column].name, len(values))
        cursor = self._read_conn().connection.driver_connection.execute(sql, (tenant, *values))  # type: ignore[union-attr]
        return cursor.fetchone() is not None

    async def get(self, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return _get_row(self._read_conn().connection.driver_connection, table, key)

    async def fetch_one(self, statement: Executable, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        rows = await self.fetch_all(statement, params)
        return rows[0] if rows else None

    async def create_all(self, metadata: MetaData) -> None:
        metadata.create_all(self.engine)

    def schema_revision(self) -> str | None:
        from ._migrate import current_revision

        return current_revision(self.engine)
