"""A local cluster for development and tests: N gateway processes on loopback sharing one
PostgreSQL database, one Redis and one NATS, as they would on N machines behind a load
balancer.

Each process is an ordinary ``chamberlain serve`` in a process of its own (killing one
is killing a real process), on its own port, with one data folder for the master key
they must share.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .store import PostgresStore, make_store


def wait_until_answering(
    url: str, timeout_s: float = 60.0, *, process: subprocess.Popen[bytes] | None = None, log: str = ""
) -> None:
    """Wait until the gateway at ``url`` answers ``/healthz``; fail at once if its process exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"gateway at {url} exited; see {log or 'its output'}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"gateway at {url} did not answer within {timeout_s}s")
        time.sleep(0.1)


@dataclass
class Member:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Cluster:
    target: str
    data_dir: Path
    database_url: str
    redis_url: str | None
    nats_url: str | None = None
    base_port: int = 8100
    size: int = 3
    env: dict[str, str] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(make_store(self.database_url), PostgresStore):
            raise ValueError("a cluster shares one PostgreSQL database: give a postgresql:// URL")

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "CHAMBERLAIN_DATABASE_URL": self.database_url}
        if self.redis_url:
            env["CHAMBERLAIN_REDIS_URL"] = self.redis_url
        if self.nats_url:
            env["CHAMBERLAIN_NATS_URL"] = self.nats_url
        return env

    def start(self, ports: list[int] | None = None, timeout_s: float = 60.0) -> list[Member]:
        """Start every member (on ``ports``, or from ``base_port`` on) and wait until each
        answers ``/healthz``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for port in ports or [self.base_port + n for n in range(self.size)]:
            self.members.append(self._spawn(port))
        for member in self.members:
            self._wait(member, timeout_s)
        return self.members

    def _spawn(self, port: int) -> Member:
        command = [sys.executable, "-m", "chamberlain.cli", "serve", self.target, "--port", str(port)]
        log = open(self.data_dir / f"gateway-{port}.log", "ab")  # noqa: SIM115 (the process owns it)
        process = subprocess.Popen(
            [*command, "--data-dir", str(self.data_dir)], env=self._environment(), stdout=log, stderr=subprocess.STDOUT
        )
        return Member(port, process)

    def _wait(self, member: Member, timeout_s: float) -> None:
        log = f"{self.data_dir}/gateway-{member.port}.log"
        wait_until_answering(member.url, timeout_s, process=member.process, log=log)

    def kill(self, index: int) -> None:
        """SIGKILL: no shutdown, no flush, as a crashed machine."""
        self.members[index].process.send_signal(signal.SIGKILL)
        self.members[index].process.wait()

    def stop(self) -> None:
        for member in self.members:
            if member.alive():
                member.process.terminate()
        for member in self.members:
            try:
                member.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                member.process.kill()
