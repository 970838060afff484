"""The documentation's runnable snippets (docs_src/) run, as the docs say they do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import DemoServer
from tests.e2e.test_commands import running
from tests.helpers import free_port

pytestmark = pytest.mark.embedded

DOCS_SRC = Path(__file__).resolve().parents[2] / "docs_src"


def test_issue_grant_snippet(tmp_path: Path) -> None:
    env = dict(os.environ, CHAMBERLAIN_DATA_DIR=str(tmp_path / "data"))
    subprocess.run(
        [sys.executable, "-m", "chamberlain.cli", "tenant", "create", "my-shop"], env=env, check=True, capture_output=True
    )
    out = subprocess.run([sys.executable, str(DOCS_SRC / "issue_grant.py")], env=env, check=True, capture_output=True, text=True)
    grant_id, token = out.stdout.split()[0], out.stdout.split()[-1]
    assert grant_id.startswith("g_") and len(token) > 200


def test_mcp_client_snippet(demo_server: DemoServer) -> None:
    env = dict(os.environ, GRANT=demo_server.grants["acme-shop"])
    out = subprocess.run(
        [sys.executable, str(DOCS_SRC / "mcp_client.py"), demo_server.mcp_url],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "orders.get" in out.stdout and "o_1002" in out.stdout


def test_asgi_app_snippet_serves_the_refunds_surface(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = dict(os.environ, CHAMBERLAIN_DATA_DIR=str(data), PYTHONPATH=str(DOCS_SRC))
    subprocess.run(
        [sys.executable, "-m", "chamberlain.cli", "tenant", "create", "my-shop"], env=env, check=True, capture_output=True
    )
    grant = subprocess.run(
        [
            sys.executable,
            "-m",
            "chamberlain.cli",
            "grant",
            "issue",
            "--tenant",
            "my-shop",
            "--principal",
            "agent:a",
            "--actions",
            "*",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "asgi_app:app", "--port", str(port), "--log-level", "warning"]
    with running(cmd, DOCS_SRC, port, env):
        actions = httpx.get(f"http://127.0.0.1:{port}/v1/actions", headers={"Authorization": f"Bearer {grant}"}).json()
    assert actions["tenant"] == "my-shop" and actions["actions"]
