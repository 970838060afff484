"""The official MCP conformance suite, run against a fixture served through the full pipeline.

Scenarios that do not apply to a stateless gateway are listed with their reasons in
examples/conformance/expected-failures.yml; the suite fails on any other failure and
on a listed scenario that starts passing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "examples" / "conformance"


def test_mcp_conformance_suite(tmp_path: Path) -> None:
    node_path = subprocess.run(
        ["bash", str(ROOT / ".ci" / "node22.sh")], check=True, capture_output=True, text=True, timeout=600
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(FIXTURE / "serve.py"), str(port), str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        env = dict(os.environ, PATH=f"{node_path}:{os.environ['PATH']}", NO_COLOR="1")
        run = subprocess.run(
            [
                "conformance",
                "server",
                "--url",
                f"http://127.0.0.1:{port}/mcp",
                "--expected-failures",
                str(FIXTURE / "expected-failures.yml"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        summary = "\n".join(line for line in run.stdout.splitlines() if line[:1] in "✓✗" or "baseline" in line.lower())
        assert run.returncode == 0, f"conformance suite failed:\n{summary}\n{run.stderr[-2000:]}"
        assert "tools-call-simple-text: 1 passed" in run.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
