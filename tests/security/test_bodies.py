"""Oversized and deeply nested bodies, on REST and MCP.

A body over ``max_body_bytes`` is refused with 413 as soon as that is known: from the
``Content-Length`` alone (nothing is read), or while reading (reading stops at the limit).
JSON nested deeper than the parser takes is a 400; arguments nested deeper than canonical
JSON can hash (an action with a free-form argument) are a 400 too, not an internal error.
Each refusal is recorded in the grant's tenant, and the gateway answers others as before.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from tests.security.conftest import ACME, Gate, bearer, console, problem, refused

LIMIT = 1_048_576
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def tool_call(arguments: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"orders.get","arguments":' + arguments + b"}}"


def raw_request(gate: Gate, head: str, body: bytes) -> bytes:
    """Send a request by hand (a Content-Length that lies), and read the answer."""
    url = urlsplit(gate.base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _length(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def head(gate: Gate, path: str, length: int) -> str:
    host = urlsplit(gate.base).netloc
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {gate.grants[ACME]}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {length}\r\n"
    )


def answered(raw: bytes) -> tuple[int, dict[str, Any]]:
    status = int(raw.split(b" ", 2)[1])
    return status, orjson.loads(raw.split(b"\r\n\r\n", 1)[1])


# --- REST ---------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_from_its_length_alone(gate: Gate) -> None:
    """Ten gigabytes announced, one byte sent: answered at once, nothing waited for."""
    for path in ("/v1/actions/orders.get", "/mcp"):
        status, body = answered(raw_request(gate, head(gate, path, 10**10), b"{"))
        assert status == 413 and body["code"] == "body-too-large" and body["limit"] == LIMIT, body
        gate.audited(body["call_id"], "body-too-large", ACME)


def test_a_rest_body_over_the_limit_is_refused(gate: Gate, http: httpx.Client) -> None:
    token = bearer(gate.grants[ACME])
    big = b'{"order_id": "' + b"x" * 2 * LIMIT + b'"}'
    refused(gate, http.post("/v1/actions/orders.get", content=big, headers=token), 413, "body-too-large", ACME)

    def chunks() -> Any:  # no Content-Length: counted while read, and reading stops at the limit
        for _ in range(64):
            yield b"x" * 65536

    refused(gate, http.post("/v1/actions/orders.get", content=chunks(), headers=token), 413, "body-too-large", ACME)
    refused(gate, http.post("/v1/quotes", content=big, headers=token), 413, "body-too-large", ACME)


def test_rest_json_nested_past_the_parser_is_refused(gate: Gate, http: httpx.Client) -> None:
    token = bearer(gate.grants[ACME], **{"Content-Type": "application/json"})
    for depth in (1_100, 100_000):
        body = b'{"order_id": "o_1001", "x": ' + nested(depth) + b"}"
        refused(gate, http.post("/v1/actions/orders.get", content=body, headers=token), 400, "malformed-json", ACME)


def test_free_form_arguments_nested_past_what_can_be_hashed_are_refused(gate: Gate, http: httpx.Client) -> None:
    """``pets.create_pet`` takes free-form ``attributes``: 300 levels parse (the REST parser
    takes 1,024), but canonical JSON stops at 253; a refusal, not an internal error."""
    token = bearer(gate.issue(ACME, ["pets.*"]), **{"Content-Type": "application/json"})
    gate.upstream.hits.clear()
    for depth in (300, 1_000):
        body = b'{"name": "Rex", "attributes": {"a": ' + nested(depth) + b"}}"
        answer = refused(gate, http.post("/v1/actions/pets.create_pet", content=body, headers=token), 400, "bad-request", ACME)
        assert answer["limit"] == 253
    assert gate.upstream.hits == []
    shallow = b'{"name": "Rex", "attributes": {"a": ' + nested(50) + b"}}"
    assert http.post("/v1/actions/pets.create_pet", content=shallow, headers=token).status_code == 200


# --- MCP ----------------------------------------------------------------------------------


def test_an_mcp_body_over_the_limit_is_refused(gate: Gate, http: httpx.Client) -> None:
    headers = bearer(gate.grants[ACME], **MCP_HEADERS, **{"Content-Type": "application/json"})
    big = tool_call(b'{"order_id": "' + b"x" * 2 * LIMIT + b'"}')
    refused(gate, http.post("/mcp", content=big, headers=headers), 413, "body-too-large", ACME)

    def chunks() -> Any:
        for _ in range(64):
            yield b"x" * 65536

    refused(gate, http.post("/mcp", content=chunks(), headers=headers), 413, "body-too-large", ACME)


def test_mcp_json_nested_past_the_parser_is_a_parse_error_and_recorded(gate: Gate, http: httpx.Client) -> None:
    headers = bearer(gate.grants[ACME], **MCP_HEADERS, **{"Content-Type": "application/json"})
    for depth in (250, 5_000):
        resp = http.post("/mcp", content=tool_call(b'{"order_id": "o_1001", "x": ' + nested(depth) + b"}"), headers=headers)
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["code"] == -32700 and error["message"].startswith("Parse error")
        assert error["data"]["code"] == "malformed-json"
        gate.audited(error["data"]["call_id"], "malformed-json", ACME)


def test_the_gateway_still_answers_everyone_else(gate: Gate, http: httpx.Client) -> None:
    for _ in range(3):
        big = b'{"order_id": "' + b"x" * 2 * LIMIT + b'"}'
        problem(http.post("/v1/actions/orders.get", content=big, headers=bearer(gate.grants[ACME])), 413, "body-too-large")
    ok = http.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(gate.grants[ACME]))
    assert ok.status_code == 200 and ok.json()["result"]["id"] == "o_1001"


def test_console_numbers_that_int_refuses_are_not_internal_errors(gate: Gate) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises; so do 5,000 digits."""
    with console(gate, ACME, "rita") as rita:
        for bad in ("%C2%B2", "9" * 5_000):
            assert rita.get(f"/console/audit?from={bad}").status_code == 200  # the newest page instead
            assert rita.get(f"/console/audit/consistency.json?from=1&to={bad}").status_code == 400
