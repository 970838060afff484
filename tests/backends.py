"""The database the suite runs on: SQLite by default, PostgreSQL with
``CHAMBERLAIN_TEST_BACKEND=postgres`` (``scripts/test`` runs both), or with every tenant
in a silo of its own (``CHAMBERLAIN_TEST_BACKEND=silo``, hybrid tenancy).

On PostgreSQL every data folder a test uses gets a database of its own, copied from a
template migrated once per run, so tests stay as isolated as their SQLite files are.
Processes a test starts itself (the CLI in a subprocess, the demo script) are given
only a data folder, so they run on SQLite either way.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import psycopg

from chamberlain.store import PostgresStore

BACKEND = os.environ.get("CHAMBERLAIN_TEST_BACKEND", "sqlite")
SERVER = os.environ.get("CHAMBERLAIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
"""The PostgreSQL server, as a role that may create databases and roles (no database)."""
ADMIN_DATABASE = "test"
APP_ROLE = "chamberlain_app"
"""What the gateway connects as: an ordinary role, owner of its tables, held to row-level
security (a superuser would bypass it, and the isolation tests would prove nothing)."""
RUN = os.getpid()
"""Databases are named by the test run's process, so runs side by side never drop each other's."""
TEMPLATE = f"chamberlain_tpl_{RUN}"
PREFIX = f"chamberlain_t_{RUN}_"
_OURS = re.compile(r"^chamberlain_(?:tpl|t)_(\d+)")

_created: set[str] = set()
_template_ready = False


def silo_template(home_url: str) -> str | None:
    """Every tenant in a SQLite file of its own, in a folder beside the shared database
    (a test that chose a PostgreSQL database keeps every tenant in it)."""
    if not home_url.startswith("sqlite:///"):
        return None
    folder = Path(home_url.removeprefix("sqlite:///")).parent / "tenants"
    return f"*=sqlite:///{folder}/{{tenant}}.db"


def url(database: str, role: str = APP_ROLE) -> str:
    """The gateway's URL for ``database`` (as the app role), or another role's."""
    scheme, _, rest = SERVER.partition("://")
    host = rest.rpartition("@")[2]
    return f"{scheme}://{role}@{host}/{database}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/{ADMIN_DATABASE}", autocommit=True)


def _prepare_template() -> None:
    """Drop what runs that have ended left, then migrate a fresh template."""
    global _template_ready
    with _admin() as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'chamberlain\\_t%'").fetchall():
            found = _OURS.match(name)
            if found is not None and not _alive(int(found.group(1))):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone() is None:
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        conn.execute(f'CREATE DATABASE "{TEMPLATE}" OWNER {APP_ROLE}')
    PostgresStore(url(TEMPLATE)).migrate()
    _template_ready = True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def database_for(data_dir: Path) -> str:
    """The database of ``data_dir``: the same for every runtime a test opens on that folder."""
    if not _template_ready:
        _prepare_template()
    name = PREFIX + hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:24]
    if name not in _created:
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" OWNER {APP_ROLE}')
        _created.add(name)
    return url(name)


def drop_all() -> None:
    if not _template_ready:
        return
    with _admin() as conn:
        for name in [*sorted(_created), TEMPLATE]:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _created.clear()
