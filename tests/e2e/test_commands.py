"""The README's demo command and the tutorial's serve command, run as a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from chamberlain.cluster import wait_until_answering
from tests.conftest import new_key
from tests.helpers import free_port

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "chamberlain.cli"]


@contextmanager
def running(args: list[str], cwd: Path, port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    env = dict(env or os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}", 20.0)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def demo_banner(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    """What ``chamberlain demo`` printed up to "Press Ctrl+C", and the grants in it."""
    assert proc.stdout is not None
    banner = ""
    deadline = time.monotonic() + 10
    while "Press Ctrl+C" not in banner and time.monotonic() < deadline:
        banner += proc.stdout.readline()
    return banner, re.findall(r"^\s{2}([A-Za-z0-9_=-]{200,})$", banner, re.M)


def test_demo_prints_grants_that_work(tmp_path: Path) -> None:
    port = free_port()
    with running([*CLI, "demo", "--port", str(port)], tmp_path, port) as proc:
        banner, grants = demo_banner(proc)
        assert len(grants) == 2, banner
        assert f"http://127.0.0.1:{port}/mcp" in banner
        for grant, currency in zip(grants, ("EUR", "USD"), strict=True):
            resp = httpx.post(
                f"http://127.0.0.1:{port}/v1/actions/orders.get",
                json={"order_id": "o_1001"},
                headers={"Authorization": f"Bearer {grant}"},
            )
            assert resp.status_code == 200 and resp.json()["result"]["total"]["currency"] == currency
        # The banner's event stream, resumed from the start, has the refund made before it.
        (events_url,) = re.findall(r"curl -N (\S+/v1/events)", banner)
        refund = {"order_id": "o_1001", "amount": {"amount_minor": 500, "currency": "EUR"}, "reason": "damaged"}
        auth = {"Authorization": f"Bearer {grants[0]}"}
        keyed = {**auth, "Idempotency-Key": new_key()}
        call_id = httpx.post(f"http://127.0.0.1:{port}/v1/actions/orders.refund", json=refund, headers=keyed).json()["call_id"]
        with httpx.stream("GET", events_url, params={"after": "0"}, headers=auth, timeout=10) as stream:
            lines = stream.iter_lines()
            assert any(line.startswith("data: ") and call_id in line for line in lines)
        # The banner's audit commands, as printed, while the gateway runs: the log of the
        # calls just made exports and verifies offline.
        audit = [line.strip() for line in banner.splitlines() if line.strip().startswith("chamberlain audit")]
        assert len(audit) == 3, banner
        python = " ".join(CLI)
        for line in audit:
            subprocess.run(
                line.replace("chamberlain ", python + " ", 1), shell=True, check=True, cwd=tmp_path, capture_output=True
            )
        verified = subprocess.run([*CLI, *audit[-1].split()[1:]], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
        assert verified.startswith("OK: ") and "acme-shop" in verified
    assert (tmp_path / "chamberlain-demo" / "chamberlain.db").exists()


def test_tutorial_flow(tmp_path: Path) -> None:
    example = ROOT / "examples" / "quickstart"
    data = ["--data-dir", str(tmp_path / "data")]
    subprocess.run([*CLI, "tenant", "create", "my-shop", *data], check=True, cwd=example, capture_output=True)
    grant = subprocess.run(
        [
            *CLI,
            "grant",
            "issue",
            "--tenant",
            "my-shop",
            "--principal",
            "agent:support",
            "--actions",
            "orders.*",
            "--ttl",
            "1h",
            *data,
        ],
        check=True,
        cwd=example,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    with running([*CLI, "serve", "myshop:surface", "--port", str(port), *data], example, port):
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {grant}"}
        ok = httpx.post(
            f"{base}/v1/actions/orders.refund",
            headers={**auth, "Idempotency-Key": new_key()},
            json={"order_id": "o_1", "amount": {"amount_minor": 1500, "currency": "EUR"}, "reason": "late"},
        )
        assert ok.status_code == 200 and ok.json()["result"]["refunded_by"] == "agent:support"
        refused = httpx.post(
            f"{base}/v1/actions/orders.refund",
            headers={**auth, "Idempotency-Key": new_key()},
            json={"order_id": "o_1", "amount": {"amount_minor": 9000, "currency": "EUR"}, "reason": "late"},
        )
        assert refused.status_code == 422 and refused.json()["reason"] == "refund-exceeds-order"
        record = httpx.get(f"{base}/v1/calls/{ok.json()['call_id']}", headers=auth).json()
        assert record["action"] == "orders.refund" and record["outcome"] == "ok"
    shown = subprocess.run(
        [*CLI, "call", "show", ok.json()["call_id"], "--tenant", "my-shop", *data],
        check=True,
        cwd=example,
        capture_output=True,
        text=True,
    ).stdout
    assert '"decision": "allowed"' in shown


def test_approval_demo_script(tmp_path: Path) -> None:
    """examples/approval_demo.py: pending, approved at the CLI, result delivered to the agent."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "approval_demo.py")], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> 202 pending_approval" in done.stdout
    assert "approved by human:rita" in done.stdout and "approval executed" in done.stdout
    assert '"amount_minor": 12000' in done.stdout.splitlines()[-1]


def test_shopping_agent_script(tmp_path: Path) -> None:
    """examples/shopping_agent.py: two stores searched and quoted over MCP, both quotes
    verified offline, the cheaper bought within a capped grant."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "shopping_agent.py")], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("signature verified") == 2
    assert "cheapest verified: acme-shop" in done.stdout and "placed: 44.89 EUR" in done.stdout


def test_policy_files_load_at_start_and_reload_on_sighup(tmp_path: Path) -> None:
    folder = tmp_path / "policies" / "acme-shop"
    folder.mkdir(parents=True)
    (folder / "refunds.cedar").write_text((ROOT / "examples" / "policies" / "acme-shop" / "refunds.cedar").read_text())
    port = free_port()
    env = dict(os.environ, CHAMBERLAIN_POLICY_DIR=str(tmp_path / "policies"), CHAMBERLAIN_POLICY_REFRESH_S="0")
    with running([*CLI, "demo", "--port", str(port)], tmp_path, port, env) as proc:
        grant = demo_banner(proc)[1][0]

        def refund(order: str) -> httpx.Response:
            body = {"order_id": order, "amount": {"amount_minor": 12_000, "currency": "EUR"}, "reason": "lost"}
            url = f"http://127.0.0.1:{port}/v1/actions/orders.refund"
            return httpx.post(url, json=body, headers={"Authorization": f"Bearer {grant}", "Idempotency-Key": new_key()})

        parked = refund("o_1006")
        assert parked.status_code == 202 and parked.json()["approval"]["policies"] == ["refunds-over-100"]

        (folder / "refunds.cedar").write_text("permit (principal, action, resource);\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while (resp := refund("o_1005")).status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert resp.status_code == 200, resp.text
    history = subprocess.run(
        [*CLI, "policy", "history", "--tenant", "acme-shop", "--data-dir", str(tmp_path / "chamberlain-demo")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split("\t")[0] for line in history] == ["v2", "v1"] and all("\tfile\t" in line for line in history)
