"""Which failures say the database is away (503, retry) rather than a statement was wrong (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from chamberlain.store import is_outage


def _raised_from(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as err:
            raise RuntimeError("wrapped by a layer above") from err
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "err",
    [
        sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection unexpectedly")),
        psycopg.OperationalError("connection failed: Connection refused"),
        sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
        sqlite3.OperationalError("database is locked"),
        ConnectionResetError("reset by peer"),
        _raised_from(psycopg.OperationalError("the database system is shutting down")),
    ],
)
def test_an_unreachable_database_is_an_outage(err: BaseException) -> None:
    assert is_outage(err)


@pytest.mark.parametrize(
    "err",
    [
        sqlite3.OperationalError("no such table: calls"),
        sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        sa_exc.ProgrammingError("SELECT", {}, psycopg.ProgrammingError("syntax error")),
        ValueError("a handler's own bug"),
        _raised_from(KeyError("missing")),
    ],
)
def test_a_wrong_statement_or_a_bug_is_not(err: BaseException) -> None:
    assert not is_outage(err)
