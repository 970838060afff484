"""What "a refusal changed nothing" means, checked against the database itself.

Every refusal is recorded by design: a call record and, once the tenant is known, an
entry in the tenant's audit log (whose head moves, and which the gateway may checkpoint
at any time). A business refusal after the handler ran (``action-failed``) is also kept
with its idempotency key, so that a retry gets the same answer. Nothing else may change:
not a business row, a grant, a policy, an approval, a webhook, an event or a key.

``State.install`` puts triggers on every table of every SQLite file in the data folder
(the tenants' own files too, under hybrid tenancy) that write each insert, real update
and delete into a change log of the test's own, ``_fuzz_changes``, in the same
transaction as the change (so what a rollback undid is not there either). The log
tables, which every call appends to, are judged instead by what was appended past a
mark: only the refusal's own record and entries. Reading a mark costs a few indexed
queries, so every request of a fuzz run can be checked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APPEND_ONLY = ("calls", "audit_entries", "audit_nodes", "audit_checkpoints")
"""Where a refusal (or the gateway's own checkpointing) appends: judged by what was appended
(an update or a delete there is logged like any other)."""
MOVING = ("audit_heads",)
"""The head of each tenant's log: moves with every entry."""
REFUSAL_ENTRIES = ("call.refused", "call.executed", "call.replayed")
"""Audit entries a refused call may leave (``call.executed``: a handler ran and refused)."""
CHANGES = "_fuzz_changes"


@dataclass(frozen=True)
class Mark:
    """Where each database's change log and append-only tables stood."""

    rowids: dict[tuple[Path, str], int]


class State:
    def __init__(self, data: Path) -> None:
        self.data = data
        self._connections: dict[Path, sqlite3.Connection] = {}
        """One read-only connection per file, kept: a new one parses the whole schema, triggers
        included, which costs more than the queries."""

    def _files(self) -> list[Path]:
        return sorted(self.data.rglob("*.db"))

    def install(self) -> None:
        """Log every change of every table (call before the gateway serves)."""
        for path in self._files():
            con = sqlite3.connect(path, isolation_level=None)
            try:
                con.execute(f"CREATE TABLE IF NOT EXISTS {CHANGES} (tbl TEXT NOT NULL, op TEXT NOT NULL, row TEXT NOT NULL)")
                for table in _tables(con):
                    columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                    for op in ("INSERT", "UPDATE", "DELETE"):
                        if table in MOVING or (op == "INSERT" and table in APPEND_ONLY):
                            continue
                        con.execute(_trigger(table, op, columns))
            finally:
                con.close()

    def mark(self) -> Mark:
        rowids: dict[tuple[Path, str], int] = {}
        for path in self._files():
            with self._reading(path) as con:
                present = {*_tables(con), *_watched(con)}
                for table in (CHANGES, *APPEND_ONLY):
                    if table in present:
                        rowids[path, table] = con.execute(f'SELECT coalesce(max(rowid), 0) FROM "{table}"').fetchone()[0]
        return Mark(rowids)

    def changes_since(self, mark: Mark) -> list[str]:
        """What changed since ``mark`` beyond the records a refusal leaves (empty: nothing)."""
        problems: list[str] = []
        for path in self._files():
            with self._reading(path) as con:
                if not _watched(con):
                    problems.append(f"{path.name}: a database the change log does not watch (created during the run)")
                    continue
                refused = set()
                for call in _added(con, "calls", mark.rowids.get((path, "calls"), 0)):
                    refused.add(call["id"])
                    if call["outcome"] in ("ok", "pending"):
                        problems.append(f"{path.name}: a call that ran or was parked: {_short(call)}")
                for entry in _added(con, "audit_entries", mark.rowids.get((path, "audit_entries"), 0)):
                    if entry["kind"] not in REFUSAL_ENTRIES or entry["call_id"] not in refused:
                        problems.append(f"{path.name}: an audit entry that is not the refusal's own: {_short(entry)}")
                for change in _added(con, CHANGES, mark.rowids.get((path, CHANGES), 0)):
                    if change["tbl"] == "idempotency_keys" and change["row"].startswith("kind=refused "):
                        continue  # the refusal kept for a retry with the same key
                    problems.append(f"{path.name}: {change['op']} {change['tbl']} {_short(change['row'])}")
        return problems

    @contextmanager
    def _reading(self, path: Path) -> Iterator[sqlite3.Connection]:
        """``path`` read in one transaction (a consistent view of it)."""
        con = self._connections.get(path)
        if con is None:
            uri = f"file:{path}?mode=ro"
            con = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False)
            con.row_factory = sqlite3.Row
            self._connections[path] = con
        con.execute("BEGIN")
        try:
            yield con
        finally:
            con.execute("COMMIT")

    def close(self) -> None:
        for con in self._connections.values():
            con.close()
        self._connections.clear()


def _added(con: sqlite3.Connection, table: str, since: int) -> list[dict[str, Any]]:
    return [dict(r) for r in con.execute(f'SELECT * FROM "{table}" WHERE rowid > ?', (since,))]


def _trigger(table: str, op: str, columns: list[str]) -> str:
    """A trigger that logs ``op`` on ``table`` with the row it wrote (or deleted)."""
    side = "OLD" if op == "DELETE" else "NEW"
    row = " || ',' || ".join(f'quote({side}."{c}")' for c in columns)
    if table == "idempotency_keys" and op == "INSERT":  # what the key keeps: a result, a parked call, a refusal
        row = f"'kind=' || coalesce(json_extract(NEW.response, '$.kind'), '?') || ' ' || {row}"
    changed = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in columns)
    when = f"WHEN {changed} " if op == "UPDATE" else ""
    return (
        f'CREATE TRIGGER IF NOT EXISTS "_fuzz_{table}_{op.lower()}" AFTER {op} ON "{table}" FOR EACH ROW {when}'
        f"BEGIN INSERT INTO {CHANGES} (tbl, op, row) VALUES ('{table}', '{op}', {row}); END"
    )


def _tables(con: sqlite3.Connection) -> list[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != ?"
    return [r[0] for r in con.execute(query, (CHANGES,))]


def _watched(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (CHANGES,))]


def _short(value: object, limit: int = 400) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
