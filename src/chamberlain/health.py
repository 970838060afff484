"""Is this process ready to serve: one set of checks for ``/readyz`` and ``chamberlain check``.

Liveness (``/healthz``) only says the process answers. Readiness says its dependencies
answer too, so a load balancer stops sending calls to a process that could only
refuse them: the database is reachable and at the schema this code expects (and, on
PostgreSQL, row-level security binds this process's role), and the shared rate limiter
(Redis), where one is configured, answers. NATS is reported, but only degrades: events
fall back to the outbox without it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import column, func, literal, select, table

from .events import Bus, NatsBus
from .limits import Limiter, RedisLimiter
from .store import PostgresStore, Store, alembic_config, each_database

_VERSION = table("alembic_version", column("version_num"))


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "ms": round(self.ms, 2)}


@functools.cache
def schema_head() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def check_database(store: Store, name: str = "database") -> Check:
    start = time.perf_counter()
    kind = store.url.split(":", 1)[0]
    try:
        await store.fetch_one(select(literal(1)))
    except Exception as err:  # unreachable, refused, no such database: all mean not ready
        return Check(name, False, f"{kind}: {type(err).__name__}: {str(err).splitlines()[0][:200]}", _ms(start))
    try:
        row = await store.fetch_one(select(_VERSION.c.version_num))
    except Exception:
        return Check(name, False, f"{kind}: reachable, not migrated: run chamberlain db upgrade", _ms(start))
    revision = row["version_num"] if row is not None else None
    if revision != schema_head():
        return Check(name, False, f"{kind}: schema at {revision}, this code needs {schema_head()}", _ms(start))
    return Check(name, True, f"{kind}: reachable, schema at {revision}", _ms(start))


async def check_redis(limiter: RedisLimiter) -> Check:
    start = time.perf_counter()
    try:
        await limiter.ping()
    except Exception as err:
        return Check("redis", False, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}", _ms(start))
    return Check("redis", True, "reachable (rate limits shared by every process)", _ms(start))


_ROLES = table("pg_roles", column("rolname"), column("rolsuper"), column("rolbypassrls"))
_BYPASS = select(_ROLES.c.rolname.label("role"), (_ROLES.c.rolsuper | _ROLES.c.rolbypassrls).label("bypass")).where(
    _ROLES.c.rolname == func.current_user()
)


async def check_isolation(store: Store, name: str = "isolation") -> Check:
    """On PostgreSQL, tenants are fenced twice: by every query's filter, and by row-level
    security, which a superuser or a BYPASSRLS role silently escapes."""
    start = time.perf_counter()
    try:
        bypass = await store.fetch_one(_BYPASS)
    except Exception as err:
        return Check(name, False, f"cannot read the role: {type(err).__name__}", _ms(start))
    if bypass is None or bypass["bypass"]:
        who = bypass["role"] if bypass is not None else "this role"
        detail = f"role {who} bypasses row-level security (superuser or BYPASSRLS): connect as an ordinary role"
        return Check(name, False, detail, _ms(start))
    return Check(name, True, f"row-level security holds role {bypass['role']} to one tenant per transaction", _ms(start))


def check_nats(bus: NatsBus) -> Check:
    """The client keeps (and re-makes) the connection. Without it events still flow, read
    from the outbox every few seconds, so a lost connection degrades, it does not fail."""
    if bus.connected:
        return Check("nats", True, f"connected; events pushed on {bus.prefix}.<tenant>", 0.0)
    return Check("nats", True, "degraded: not connected, events are read from the outbox meanwhile", 0.0)


async def probe_nats(url: str, prefix: str) -> Check:
    """For ``chamberlain check``, which runs no bus of its own: connect once, make sure the
    stream exists, disconnect."""

    async def nothing(tenant: str, after: int, limit: int) -> list[dict[str, Any]]:
        return []

    start = time.perf_counter()
    bus = NatsBus(url, nothing, prefix=prefix)
    try:
        await bus.connect(wait=True)
    except Exception as err:
        return Check("nats", False, f"{type(err).__name__}: {str(err)[:200]}", _ms(start))
    await bus.close()
    return Check("nats", True, f"reachable; JetStream stream {bus.stream} ready", _ms(start))


async def readiness(store: Store, limiter: Limiter | None = None, bus: Bus | None = None) -> list[Check]:
    """The database always (and, on PostgreSQL, that row-level security binds this process);
    Redis when rates are counted there; NATS when events are pushed through it."""
    checks = await _check_databases(store)
    if isinstance(limiter, RedisLimiter):
        checks.append(await check_redis(limiter))
    if isinstance(bus, NatsBus):
        checks.append(check_nats(bus))
    return checks


async def _check_databases(store: Store) -> list[Check]:
    """Each database behind the store: the shared one, then each tenant silo, named by
    position only (a readiness answer names no tenant and no URL)."""
    start = time.perf_counter()
    try:
        databases = await each_database(store)
    except Exception as err:  # a silo that cannot be opened: not ready
        return [Check("tenant databases", False, f"cannot open every silo: {type(err).__name__}", _ms(start))]
    checks = []
    for n, database in enumerate(databases):
        suffix = "" if n == 0 else f" (silo {n})"
        checks.append(await check_database(database, "database" + suffix))
        if isinstance(database, PostgresStore) and checks[-1].ok:
            checks.append(await check_isolation(database, "isolation" + suffix))
    return checks


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
