"""Start ``chamberlain demo`` for an example script: a free port, a throwaway data folder,
and the grants its banner prints."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "chamberlain.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def demo_gateway(data: Path) -> Iterator[tuple[str, str]]:
    """``chamberlain demo`` in the background; yields its base URL and acme-shop's grant."""
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "demo", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = ""
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while "Press Ctrl+C" not in banner:
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise SystemExit("the demo gateway did not start:\n" + banner)
            banner += line
        grant = re.findall(r"^\s{2}([A-Za-z0-9_=-]{200,})$", banner, re.M)[0]
        base = f"http://127.0.0.1:{port}"
        while True:  # the banner comes before the server listens
            try:
                httpx.get(base + "/healthz", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the demo gateway did not answer") from None
                time.sleep(0.1)
        yield base, grant
    finally:
        proc.terminate()
        proc.wait(timeout=10)
