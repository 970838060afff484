"""Tenant overrides of declared limits: through the gateway and the CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from chamberlain.cli import main
from chamberlain.errors import QuotaExceeded, RateLimited
from chamberlain.limits import Rate
from chamberlain.pipeline import Outcome
from tests.conftest import issue
from tests.limits.test_limits import add_note as add_note_in
from tests.limits.test_limits import notes_runtime


async def test_a_tenant_override_replaces_the_declared_limit_for_that_tenant_only(tmp_path: Path) -> None:
    async with notes_runtime(tmp_path) as rt:
        acme, globex = await issue(rt), await issue(rt, "globex")

        async def add_note(token: str) -> Outcome:
            return await add_note_in(rt, token)

        await rt.gateway.tenant_limits.set("acme", "notes.add", Rate.parse("1/minute"), Rate.parse("5/day"), by="op:test")
        assert (await add_note(acme)).ok
        assert isinstance((await add_note(acme)).error, RateLimited), "acme's override: one a minute"
        assert all([(await add_note(globex)).ok for _ in range(3)]), "globex keeps the declared three"
        assert await rt.gateway.tenant_limits.clear("acme", "notes.add")
        assert all([(await add_note(acme)).ok for _ in range(3)]), "cleared: the declared rate, counted afresh"
        await rt.gateway.tenant_limits.set("acme", "notes.add", None, Rate.parse("4/day"), by="op:test")
        over = await add_note(acme)
        assert isinstance(over.error, (QuotaExceeded, RateLimited)), "a quota set by override counts past calls too"


def test_operators_set_show_and_clear_overrides(tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        return result.output

    run("tenant", "create", "acme")
    assert "orders.refund  rate 100/minute  quota -  (declared)" in run("limits", "show", "--tenant", "acme")
    run("limits", "set", "orders.refund", "--tenant", "acme", "--rate", "5/minute", "--quota", "50/day")
    assert "orders.refund  rate 5/minute  quota 50/day  (overridden)" in run("limits", "show", "--tenant", "acme")
    assert "back to its declared limits" in run("limits", "clear", "orders.refund", "--tenant", "acme")

    def fails(*args: str) -> str:
        result = CliRunner().invoke(main, ["limits", "set", *args, "--tenant", "acme", "--data-dir", str(tmp_path)])
        assert result.exit_code != 0
        return result.output

    assert "no action 'orders.nope'" in fails("orders.nope", "--rate", "1/minute")
    assert "N/second" in fails("orders.refund", "--rate", "lots")
    assert "give --rate, --quota or both" in fails("orders.refund")
