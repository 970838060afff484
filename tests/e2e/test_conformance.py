"""The official MCP conformance suite, run against a fixture served through the full pipeline.

Scenarios that do not apply to a stateless gateway are listed with their reasons in
examples/conformance/expected-failures.yml; the suite fails on any other failure and
on a listed scenario that starts passing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from chamberlain.cluster import wait_until_answering
from tests.helpers import free_port

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "examples" / "conformance"


def _suite(url: str, results: Path, env: dict[str, str]) -> tuple[bool, str]:
    """Run the suite once; (passed, what failed with the suite's own messages)."""
    run = subprocess.run(
        [
            "conformance",
            "server",
            "--url",
            url,
            "--expected-failures",
            str(FIXTURE / "expected-failures.yml"),
            "-o",
            str(results),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = "\n".join(line for line in run.stdout.splitlines() if line[:1] in "✓✗" or "baseline" in line.lower())
    failed = [
        f"{check.get('id')}: {check.get('errorMessage')}"
        for path in results.rglob("checks.json")
        for check in json.loads(path.read_text())
        if check.get("status") == "FAILURE"
    ]
    passed = run.returncode == 0 and "tools-call-simple-text: 1 passed" in run.stdout
    return passed, summary + "\n" + "\n".join(failed)


def test_mcp_conformance_suite(tmp_path: Path) -> None:
    node_path = subprocess.run(
        ["bash", str(ROOT / ".ci" / "node22.sh")], check=True, capture_output=True, text=True, timeout=600
    ).stdout.strip()
    port = free_port()
    log = (tmp_path / "server.log").open("w")  # a file, not an unread pipe that could fill up
    server = subprocess.Popen(
        [sys.executable, str(FIXTURE / "serve.py"), str(port), str(tmp_path / "data")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}", 20.0)
        env = dict(os.environ, PATH=f"{node_path}:{os.environ['PATH']}", NO_COLOR="1")
        url = f"http://127.0.0.1:{port}/mcp"
        passed, report = _suite(url, tmp_path / "results-1", env)
        if not passed:
            # Seen once in ~20 runs on this shared machine (tools-call-mixed-content, no message
            # kept then): one rerun, and the first failure stays visible as a warning.
            warnings.warn(f"MCP conformance suite failed once, rerunning:\n{report}", stacklevel=1)
            passed, report = _suite(url, tmp_path / "results-2", env)
        server_log = (tmp_path / "server.log").read_text()[-3000:]
        assert passed, "conformance suite failed:\n" + report + "\n" + server_log
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
