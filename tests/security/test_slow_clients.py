"""Slowloris: clients that send a request a byte at a time, or never finish it.

The gateway is asyncio: a slow client never blocks the others, but each holds a socket
until its request is in. With ``request_read_timeout_s`` (``READ_TIMEOUT_S`` here), a body
that has not arrived in time is answered ``408 request-timeout`` (recorded in the grant's
tenant when it presented one) and its connection closed; a connection whose request head
has not arrived in time is closed (``chamberlain serve``'s HTTP protocol, tested on a real
``chamberlain serve`` process). No test measures how long anything takes: each waits for
the server to act, however long the machine makes that.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from chamberlain.cluster import wait_until_answering
from tests.helpers import free_port
from tests.security.conftest import ACME, Gate, bearer

WAIT_S = 60.0
"""How long a test waits for the server to drop a slow client before calling it a failure."""


def connect(base: str) -> socket.socket:
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=WAIT_S)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def test_a_body_that_never_finishes_is_answered_408_and_recorded(gate: Gate, http: httpx.Client) -> None:
    host = urlsplit(gate.base).netloc
    slow = [connect(gate.base) for _ in range(8)]
    try:
        for sock in slow:
            sock.sendall(
                f"POST /v1/actions/orders.get HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {gate.grants[ACME]}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n".encode()
                + b'{"order_id": '  # 13 of the 100 bytes promised; the rest never comes
            )
        # Meanwhile everyone else is served as usual.
        for _ in range(5):
            ok = http.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(gate.grants[ACME]))
            assert ok.status_code == 200
        for sock in slow:
            answer = read_all(sock)  # the server answers, then closes: recv returns b""
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower(), head
            problem = orjson.loads(body)
            assert problem["code"] == "request-timeout" and problem["retryable"] is True
            gate.audited(problem["call_id"], "request-timeout", ACME)
    finally:
        for sock in slow:
            sock.close()


def test_a_body_trickled_a_byte_at_a_time_is_cut_off(gate: Gate) -> None:
    """Each byte arrives well within any idle timeout; the whole body never does."""
    host = urlsplit(gate.base).netloc
    with connect(gate.base) as sock:
        sock.sendall(
            f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {gate.grants[ACME]}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            "Content-Length: 100000\r\n\r\n".encode()
        )
        sock.settimeout(0.2)
        answer = b""
        while not answer:
            try:
                sock.sendall(b" ")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(WAIT_S)
        try:
            answer += read_all(sock)
        except ConnectionResetError:  # the server closed while bytes were still coming
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    gate.audited(orjson.loads(body)["call_id"], "request-timeout", ACME)


# --- a real `chamberlain serve`: the request head -----------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data, port = tmp_path_factory.mktemp("slowloris"), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERLAIN_")}  # its own folder, on SQLite
    env["CHAMBERLAIN_REQUEST_READ_TIMEOUT_S"] = "1"
    log = data / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chamberlain.cli",
                "serve",
                "chamberlain.demo:shop",
                "--data-dir",
                str(data),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_answering(base, 60.0, process=process, log=str(log))
            yield base
        finally:
            process.terminate()
            process.wait(30)


@pytest.mark.embedded
def test_slowloris_headers_are_dropped_and_nobody_else_waits(served: str) -> None:
    host = urlsplit(served).netloc
    idle = [connect(served) for _ in range(10)]  # connect, then say nothing
    trickling = [connect(served) for _ in range(10)]
    try:
        for sock in trickling:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())  # and never the blank line
        # Everyone else is served while those connections hang.
        with httpx.Client(base_url=served, timeout=WAIT_S) as http:
            for _ in range(5):
                assert http.get("/healthz").status_code == 200
        for sock in trickling:
            sock.settimeout(0.2)
            closed = False
            while not closed:  # one more header byte now and then, as slowloris does
                try:
                    sock.sendall(b"a")
                    closed = sock.recv(1) == b""
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
        for sock in idle:
            assert read_all(sock) == b""  # closed without a word: there was no request to answer
    finally:
        for sock in idle + trickling:
            sock.close()
