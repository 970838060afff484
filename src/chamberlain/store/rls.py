"""PostgreSQL row-level security: the statements that fence a table's rows by tenant.

A row is visible, and may be written, only when its ``tenant_id`` is the transaction's
``chamberlain.tenant`` setting, or when that setting is ``*`` (the gateway's own work
across tenants). Unset or empty, nothing is: deny by default. ``FORCE`` makes the
policy bind the tables' owner too, so the gateway's own role is held to it; only a
superuser or a role with ``BYPASSRLS`` escapes it, which ``chamberlain check`` reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

POLICY = "chamberlain_tenant_isolation"
VISIBLE = "(tenant_id = current_setting('chamberlain.tenant', true) OR current_setting('chamberlain.tenant', true) = '*')"


def isolate(table: str) -> list[str]:
    """Idempotent: safe to run again on a table that is isolated already."""
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {POLICY} ON "{table}"',
        f'CREATE POLICY {POLICY} ON "{table}" USING {VISIBLE} WITH CHECK {VISIBLE}',
    ]


def release(table: str) -> list[str]:
    return [
        f'DROP POLICY IF EXISTS {POLICY} ON "{table}"',
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
    ]


def fence_tables(execute: Callable[[str], object], dialect: str, tables: Iterable[str]) -> None:
    """In a migration's upgrade: isolate ``tables`` on PostgreSQL; nothing on SQLite,
    which has no row-level security."""
    _each(execute, dialect, tables, isolate)


def unfence_tables(execute: Callable[[str], object], dialect: str, tables: Iterable[str]) -> None:
    """In a migration's downgrade: the reverse of ``fence_tables``."""
    _each(execute, dialect, tables, release)


def _each(execute: Callable[[str], object], dialect: str, tables: Iterable[str], statements: Callable[[str], list[str]]) -> None:
    if dialect == "postgresql":
        for table in tables:
            for statement in statements(table):
                execute(statement)
