"""The hot statements both backends send straight to their driver, written once.

SQLAlchemy's per-statement work costs more than SQLite's or PostgreSQL's own for the
rows written on every call (a call record, an audit entry, the log's head), so those
are plain SQL built once per table, in each driver's parameter style (``?``, ``%s``).
"""

from __future__ import annotations

import functools

from sqlalchemy import JSON, Table

Plan = tuple[str, tuple[str, ...], frozenset[str]]
"""The SQL, the columns its parameters follow, and those of them that hold JSON."""


@functools.cache
def insert_plan(table: Table, mark: str) -> Plan:
    columns = tuple(c.name for c in table.columns)
    sql = f'INSERT INTO "{table.name}" ({", ".join(columns)}) VALUES ({", ".join(mark for _ in columns)})'
    return sql, columns, frozenset(c.name for c in table.columns if isinstance(c.type, JSON))


@functools.cache
def upsert_plan(table: Table, mark: str) -> Plan:
    sql, columns, json_columns = insert_plan(table, mark)
    keys = [c.name for c in table.primary_key.columns]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    return f"{sql} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}", columns, json_columns


@functools.cache
def select_plan(table: Table, key: tuple[str, ...], mark: str) -> tuple[str, tuple[str, ...]]:
    columns = tuple(c.name for c in table.columns)
    where = " AND ".join(f"{c} = {mark}" for c in key)
    return f'SELECT {", ".join(columns)} FROM "{table.name}" WHERE {where}', columns
