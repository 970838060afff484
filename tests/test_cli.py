from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chamberlain import Surface, __version__
from chamberlain.app import Runtime
from chamberlain.cli import load_surface, main
from chamberlain.config import Settings


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output  # type: ignore[attr-defined]


def test_tenant_and_grant_lifecycle(data: Path) -> None:
    assert run("tenant", "create", "acme", "--name", "Acme Inc", "--data-dir", str(data)).exit_code == 0  # type: ignore[attr-defined]
    again = CliRunner().invoke(main, ["tenant", "create", "acme", "--data-dir", str(data)])
    assert again.exit_code != 0 and "already exists" in again.output
    listed = run("tenant", "list", "--data-dir", str(data))
    assert "acme\tAcme Inc" in listed.output  # type: ignore[attr-defined]

    issued = run(
        "grant",
        "issue",
        "--tenant",
        "acme",
        "--principal",
        "agent:bot",
        "--actions",
        "orders.*, customers.get",
        "--ttl",
        "15m",
        "--json",
        "--data-dir",
        str(data),
    )
    body = json.loads(issued.output)  # type: ignore[attr-defined]
    assert body["actions"] == ["orders.*", "customers.get"] and body["tenant"] == "acme"

    async def verify() -> tuple[str, tuple[str, ...]]:
        rt = Runtime(Surface("x"), Settings(data_dir=data))
        async with rt.running():
            grant = await rt.authority.verify(body["token"])
            return grant.id, grant.actions

    assert asyncio.run(verify()) == (body["id"], ("customers.get", "orders.*"))
    plain = run(
        "grant", "issue", "--tenant", "acme", "--principal", "agent:bot", "--actions", "orders.get", "--data-dir", str(data)
    )
    assert plain.output.strip() and "\n" not in plain.output.strip()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ttl", "forever"], "duration"),
        (["--principal", "robot:bob"], "principal"),
        (["--tenant", "nobody"], "no signing key"),
    ],
)
def test_grant_issue_errors_are_clean(data: Path, args: list[str], message: str) -> None:
    run("tenant", "create", "acme", "--data-dir", str(data))
    base = {"--tenant": "acme", "--principal": "agent:bot", "--actions": "orders.get", "--ttl": "1h"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = CliRunner().invoke(main, ["grant", "issue", *[x for kv in base.items() for x in kv], "--data-dir", str(data)])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_db_upgrade_and_call_show(data: Path) -> None:
    result = run("db", "upgrade", "--data-dir", str(data))
    assert "revision 0018" in result.output  # type: ignore[attr-defined]
    missing = CliRunner().invoke(main, ["call", "show", "call_nope", "--tenant", "acme", "--data-dir", str(data)])
    assert missing.exit_code != 0 and "no call" in missing.output


def test_serve_refuses_bad_targets() -> None:
    for target in ("nocolon", "no_such_module_xyz:surface", "chamberlain.demo.shop:meta"):
        result = CliRunner().invoke(main, ["serve", target])
        assert result.exit_code != 0 and "Traceback" not in result.output
    assert load_surface("chamberlain.demo.shop:shop").name == "demo-shop"


def test_demo_refuses_to_replace_a_foreign_folder(tmp_path: Path) -> None:
    foreign = tmp_path / "important"
    foreign.mkdir()
    (foreign / "file").write_text("keep me")
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(foreign)])
    assert result.exit_code != 0 and (foreign / "file").exists()


def test_grant_attenuate_offline(data: Path) -> None:
    run("tenant", "create", "acme", "--data-dir", str(data))
    parent = run(
        "grant", "issue", "--tenant", "acme", "--principal", "agent:bot", "--actions", "orders.*", "--data-dir", str(data)
    )
    token = parent.output.strip()  # type: ignore[attr-defined]
    child = run(
        "grant", "attenuate", token, "--actions", "orders.get", "--ttl", "5m", "--to", "agent:sub", "--data-dir", str(data)
    )
    narrowed = child.output.strip()  # type: ignore[attr-defined]

    async def check() -> tuple[list[str], tuple[str, ...]]:
        rt = Runtime(Surface("x"), Settings(data_dir=data))
        async with rt.running():
            grant = await rt.authority.verify(narrowed)
            return grant.chain, grant.delegates

    chain, delegates = asyncio.run(check())
    assert chain == ["tenant:acme", "agent:bot", "agent:sub"] and delegates == ("agent:sub",)
    for bad in (["garbage", "--ttl", "5m"], [token], [token, "--actions", "orders.ref*"]):
        result = CliRunner().invoke(main, ["grant", "attenuate", *bad, "--data-dir", str(data)])
        assert result.exit_code != 0 and "Traceback" not in result.output


def test_grant_issue_with_constraints(data: Path) -> None:
    run("tenant", "create", "acme", "--data-dir", str(data))
    args = ["grant", "issue", "--tenant", "acme", "--principal", "agent:bot", "--actions", "orders.*", "--json"]
    issued = run(*args, "--constraint", "orders.refund: amount.amount_minor <= 5000", "--data-dir", str(data))
    assert json.loads(issued.output)["constraints"] == ["orders.refund: amount.amount_minor <= 5000"]  # type: ignore[attr-defined]
    bad = CliRunner().invoke(main, [*args, "--constraint", "orders.refund: amount <= lots", "--data-dir", str(data)])
    assert bad.exit_code != 0 and "constraint" in bad.output and "Traceback" not in bad.output


def test_check_reports_the_database_and_changes_nothing(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect

    data = tmp_path / "data"
    database = f"sqlite:///{tmp_path / 'check.db'}"
    runner = CliRunner(env={"CHAMBERLAIN_DATABASE_URL": database})
    fresh = runner.invoke(main, ["check", "--data-dir", str(data)])
    assert fresh.exit_code == 1 and "not migrated: run chamberlain db upgrade" in fresh.output
    assert not inspect(create_engine(database)).get_table_names()  # it migrated nothing
    assert runner.invoke(main, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    ready = runner.invoke(main, ["check", "--data-dir", str(data)])
    assert ready.exit_code == 0 and "ok    database" in ready.output and "schema at 0018" in ready.output
    unreachable = CliRunner().invoke(
        main, ["check", "--data-dir", str(data)], env={"CHAMBERLAIN_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    )
    assert unreachable.exit_code == 1 and "FAIL  database  postgresql: OperationalError" in unreachable.output
    services = runner.invoke(
        main,
        ["check", "--data-dir", str(data)],
        env={"CHAMBERLAIN_REDIS_URL": "redis://127.0.0.1:1/0", "CHAMBERLAIN_NATS_URL": "nats://127.0.0.1:1"},
    )
    assert services.exit_code == 1 and "FAIL  redis" in services.output and "FAIL  nats" in services.output
