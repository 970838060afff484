"""Row-level security on PostgreSQL: a query that forgets its tenant filter returns the
scope's tenant's rows only (runs in both backends' passes: these need PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from chamberlain import Context, Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.pipeline import Call
from chamberlain.store import PostgresStore, calls, make_store, tenant_scope, tenants
from chamberlain.tenants import create_tenant
from tests import backends
from tests.conftest import issue, permit_all


def _call_row(call_id: str, tenant: str) -> dict[str, object]:
    return {
        "id": call_id,
        "tenant_id": tenant,
        "surface": "test",
        "action": "x",
        "decision": "refused",
        "reasons": [],
        "outcome": "refused",
        "timings": {},
        "trace_id": "0" * 32,
        "started_at": "2026-11-29T00:00:00.000000+00:00",
        "duration_ms": 0.0,
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[PostgresStore]:
    pg = make_store(backends.database_for(tmp_path))
    assert isinstance(pg, PostgresStore)
    await pg.open()
    async with pg.transaction() as tx:  # the gateway's own scope: every tenant
        for tenant in ("acme", "globex"):
            await tx.insert(tenants, {"id": tenant, "name": tenant, "created_at": "now"})
            await tx.insert(calls, _call_row(f"call_{tenant}", tenant))
    try:
        yield pg
    finally:
        await pg.close()


def test_plain_sql_without_a_tenant_filter_sees_only_the_transactions_tenant(store: PostgresStore) -> None:
    with psycopg.connect(backends.url(store.url.rsplit("/", 1)[1])) as conn:
        conn.execute("SELECT set_config('chamberlain.tenant', 'acme', true)")
        assert conn.execute("SELECT id FROM calls").fetchall() == [("call_acme",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # WITH CHECK: no writing into another tenant
            conn.execute("UPDATE calls SET tenant_id = 'globex' WHERE id = 'call_acme'")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM calls").fetchone() == (0,), "no setting: nothing (deny by default)"
        conn.rollback()
        conn.execute("SELECT set_config('chamberlain.tenant', 'globex', true)")
        assert conn.execute("SELECT count(*) FROM calls WHERE tenant_id = 'acme'").fetchone() == (0,)
        assert conn.execute("DELETE FROM calls").rowcount == 1  # its own row only
        conn.rollback()


async def test_the_store_holds_each_scope_to_its_tenant(store: PostgresStore) -> None:
    with tenant_scope("acme"):
        assert [r["id"] for r in await store.fetch_all(select(calls.c.id))] == ["call_acme"]
        with pytest.raises(Exception, match="row-level security"):
            async with store.transaction() as tx:
                await tx.insert(calls, _call_row("call_smuggled", "globex"))
    assert sorted(r["id"] for r in await store.fetch_all(select(calls.c.id))) == ["call_acme", "call_globex"]


async def test_a_handler_that_forgets_its_tenant_filter_reads_its_tenant_only(tmp_path: Path) -> None:
    """A business table with a tenant_id column gets the policy too (Store.create_all)."""
    notes_meta = MetaData()
    notes = Table(
        "careless_notes",
        notes_meta,
        Column("tenant_id", String(64), primary_key=True),
        Column("id", Integer, primary_key=True),
        Column("text", String(100)),
    )
    surface = Surface("careless")

    @surface.action("notes.all", risk="read")
    async def all_notes(ctx: Context) -> list[str]:
        """Forgets ``where tenant_id = ctx.tenant``: the bug row-level security contains."""
        return [r.text for r in await ctx.tx.execute(select(notes.c.text).order_by(notes.c.id))]

    @surface.on_startup
    async def tables(store: object) -> None:
        await store.create_all(notes_meta)  # type: ignore[attr-defined]

    rt = Runtime(surface, Settings(data_dir=tmp_path / "data", database_url=backends.database_for(tmp_path)))
    async with rt.running():
        for n, tenant in enumerate(("acme", "globex")):
            await create_tenant(rt.store, rt.keys, tenant, tenant)
            await permit_all(rt, tenant)
            async with rt.store.transaction() as tx:
                await tx.execute(insert(notes).values(tenant_id=tenant, id=n, text=f"{tenant}'s secret"))
        out = await rt.gateway.call(Call("notes.all", {}, await issue(rt, "acme"), "test"))
        assert out.ok and out.result == {"result": ["acme's secret"]}


async def test_readiness_fails_when_the_role_escapes_row_level_security(store: PostgresStore) -> None:
    from chamberlain.health import readiness

    database, isolation = await readiness(store)
    assert database.ok and isolation.ok and "chamberlain_app" in isolation.detail
    superuser = PostgresStore(backends.url(store.url.rsplit("/", 1)[1], role="postgres"))
    await superuser.open()
    try:
        _, escaped = await readiness(superuser)
    finally:
        await superuser.close()
    assert not escaped.ok and "role postgres bypasses row-level security" in escaped.detail
