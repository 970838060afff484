"""Telling a database that is away from a statement that is wrong.

A call that meets a database outage (a restart, a failover, a cut connection, a full
pool) may succeed if it is sent again, and its caller should be told so with ``503``
and ``Retry-After``; a statement the database rejected is a bug, ``500``. Both are
retryable for the caller, but only one means "the service is unavailable right now".
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa_exc

_SQLITE_AWAY = ("database is locked", "disk i/o error", "unable to open database", "database is busy")
"""SQLite's operational errors that pass; others ("no such table") are bugs."""

_AWAY = (
    sa_exc.TimeoutError,  # no pooled connection came free in time
    psycopg.OperationalError,  # covers connection loss and the server shutting down
    psycopg.InterfaceError,
    ConnectionError,
    TimeoutError,
)


def is_outage(err: BaseException) -> bool:
    """Whether ``err``, or an exception it was raised from, says the database could not be
    reached or could not answer in time."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _AWAY):
            return True
        if isinstance(current, sqlite3.OperationalError) and any(s in str(current).lower() for s in _SQLITE_AWAY):
            return True
        if isinstance(current, sa_exc.DBAPIError):  # SQLAlchemy's wrapper: judge the driver's own error
            if current.connection_invalidated:
                return True
            if isinstance(current.orig, BaseException) and id(current.orig) not in seen:
                current = current.orig
                continue
        current = current.__cause__ or current.__context__
    return False
