"""Hybrid tenancy: a tenant placed in a database of its own (a silo) by configuration,
the others pooled in the shared one, routed per request, on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from chamberlain.app import Runtime
from chamberlain.demo import shop
from chamberlain.demo.shop import orders, refunds
from chamberlain.health import readiness
from chamberlain.pipeline import Call, Outcome
from chamberlain.store import (
    AmbiguousRead,
    CrossDatabase,
    Placements,
    Store,
    TenantRouter,
    UnscopedWrite,
    audit_entries,
    calls,
    events,
    make_store,
    tenant_keys,
    tenant_scope,
    tenant_transaction,
    tenants,
)
from chamberlain.tenants import create_tenant, list_tenants
from chamberlain.timeutil import utc_now
from tests import backends
from tests.conftest import issue, make_runtime, new_key, permit_all
from tests.pipeline.test_gateway import add_order


def _silo_url(engine: str, tmp_path: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'acme-silo.db'}"
    return backends.database_for(tmp_path / "acme-silo")


@pytest.fixture(params=["sqlite", "postgresql"])
async def hybrid(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Runtime, str]]:
    """acme in a silo (a SQLite file, or a PostgreSQL database), globex pooled in the shared one."""
    silo = _silo_url(request.param, tmp_path)
    rt = make_runtime(shop, tmp_path / "data", tenant_databases=f"acme={silo}")
    async with rt.running():
        for tenant in ("acme", "globex"):
            await create_tenant(rt.store, rt.keys, tenant, tenant.title())
            await add_order(rt, tenant, total=50_000)
        yield rt, silo


async def _refund(rt: Runtime, tenant: str, amount: int = 1000) -> Outcome:
    args = {"order_id": "o_1", "amount": {"amount_minor": amount, "currency": "EUR"}, "reason": "damaged"}
    out = await rt.gateway.call(Call("orders.refund", args, await issue(rt, tenant), "test", idempotency_key=new_key()))
    assert out.error is None, out.error
    return out


async def _tenants_in(url: str, table: object) -> set[str]:
    """Whose rows ``table`` holds in the database at ``url``, read by a store of its own."""
    store = make_store(url)
    await store.open()
    try:
        return {r["tenant_id"] for r in await store.fetch_all(select(table.c.tenant_id).distinct())}  # type: ignore[attr-defined]
    finally:
        await store.close()


async def test_a_siloed_tenants_rows_live_in_its_database_and_the_others_in_the_shared_one(
    hybrid: tuple[Runtime, str],
) -> None:
    rt, silo = hybrid
    for tenant in ("acme", "globex"):
        await permit_all(rt, tenant)
        await _refund(rt, tenant)
    assert isinstance(rt.store, TenantRouter)
    home = rt.store.home.url
    for table in (calls, audit_entries, events, refunds):
        assert await _tenants_in(silo, table) == {"acme"}, table
        assert await _tenants_in(home, table) == {"globex"}, table
    # The directory and every key stay in the shared database; the silo keeps its tenant's row.
    assert await _tenants_in(home, tenant_keys) == {"acme", "globex"}
    assert await _tenants_in(silo, tenant_keys) == set()
    assert [t["id"] for t in await list_tenants(rt.store)] == ["acme", "globex"]
    # Each tenant's log is whole where it lives, and verifies.
    for tenant in ("acme", "globex"):
        checkpoint = await rt.audit.checkpoint(tenant)
        assert checkpoint.checkpoint.size >= 2  # policy published, grant issued, the call
        proof = await rt.audit.inclusion(tenant, checkpoint.checkpoint.size - 1)
        assert proof["tree_size"] == checkpoint.checkpoint.size


async def test_the_gateways_upkeep_visits_every_database(hybrid: tuple[Runtime, str]) -> None:
    rt, _ = hybrid
    for tenant in ("acme", "globex"):  # over the default threshold: each parks for a human
        assert (await _refund(rt, tenant, amount=20_000)).pending
    assert await rt.approvals.expire_overdue(utc_now() + timedelta(days=30)) == 2
    for tenant in ("acme", "globex"):
        (row,) = await rt.approvals.query(tenant)
        assert row["status"] == "expired"
    await rt.metrics.sample_queues(rt.store)
    assert rt.metrics.approvals_pending._value.get() == 0  # counted in both databases, added up
    checks = await readiness(rt.store)
    assert [c.name for c in checks if c.name.startswith("database")] == ["database", "database (silo 1)"]
    assert all(c.ok for c in checks), checks


async def test_work_that_cannot_be_placed_is_refused_not_guessed(hybrid: tuple[Runtime, str]) -> None:
    rt, _ = hybrid
    row = {"tenant_id": "acme", "id": "o_2", "customer_id": "c_1", "total_minor": 1, "refunded_minor": 0}
    with pytest.raises(UnscopedWrite):  # whose row is it? not said, so not written anywhere
        async with rt.store.transaction() as tx:
            await tx.execute(insert(orders).values(**row, currency="EUR", status="paid"))
    with pytest.raises(CrossDatabase):  # a key (shared database) and a call row (the silo) in one unit
        async with tenant_transaction(rt.store, "acme") as tx:
            await tx.execute(select(tenant_keys.c.kid))
            await tx.execute(select(calls.c.id))
    with pytest.raises(AmbiguousRead):  # a count outside a scope would be one database's count
        await rt.store.fetch_one(select(func.count().label("n")).select_from(orders))
    with tenant_scope("acme"):
        found = await rt.store.fetch_one(select(func.count().label("n")).select_from(orders))
    assert found is not None and found["n"] == 1


async def test_every_tenant_can_have_its_own_database(tmp_path: Path) -> None:
    rt = make_runtime(shop, tmp_path / "data", tenant_databases=f"*=sqlite:///{tmp_path}/tenants/{{tenant}}.db")
    async with rt.running():
        for tenant in ("acme", "globex"):
            await create_tenant(rt.store, rt.keys, tenant, tenant)
            await add_order(rt, tenant)
            await permit_all(rt, tenant)
            await _refund(rt, tenant)
        for tenant in ("acme", "globex"):
            assert await _tenants_in(f"sqlite:///{tmp_path}/tenants/{tenant}.db", calls) == {tenant}
        assert isinstance(rt.store, TenantRouter)
        databases: list[Store] = await rt.store.databases()
        assert len(databases) == 3
    # A process that starts later finds both silos through the directory.
    again = make_runtime(shop, tmp_path / "data", tenant_databases=f"*=sqlite:///{tmp_path}/tenants/{{tenant}}.db")
    async with again.running():
        assert await again.approvals.expire_overdue() == 0
        assert len(await again.store.databases()) == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text, message",
    [
        ("acme", "write tenant=URL"),
        ("ACME=sqlite:///x.db", "not a tenant id"),
        ("acme=sqlite:///a.db acme=sqlite:///b.db", "placed twice"),
        ("*=sqlite:///all.db", "needs {tenant}"),
        ("acme=sqlite:///home.db", "the shared database"),
    ],
)
def test_a_placement_that_cannot_be_right_is_refused_at_start(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Placements.parse(text, home_url="sqlite:///home.db")


def test_placements_name_silos_and_template_the_rest() -> None:
    placed = Placements.parse("acme=postgresql://db/acme, *=sqlite:///t/{tenant}.db", home_url="sqlite:///h.db")
    assert placed.url_for("acme") == "postgresql://db/acme"
    assert placed.url_for("globex") == "sqlite:///t/globex.db"
    assert Placements.parse("acme=sqlite:///a.db", home_url="sqlite:///h.db").url_for("globex") is None
    assert not Placements.parse("  ", home_url="sqlite:///h.db")


async def test_the_shared_database_keeps_the_directory_row_a_silo_copies(hybrid: tuple[Runtime, str]) -> None:
    rt, silo = hybrid
    store = make_store(silo)
    await store.open()
    try:
        assert [r["id"] for r in await store.fetch_all(select(tenants.c.id))] == ["acme"]
    finally:
        await store.close()
