"""Fuzz the MCP endpoint (``POST /mcp``, Streamable HTTP, JSON-RPC) with malformed input.

Hypothesis writes what a broken or hostile client might send: bytes that are not JSON,
JSON that is not a JSON-RPC message, envelopes with the wrong types for ``jsonrpc``,
``id``, ``method`` and ``params``, unknown methods, batches, deeply nested and very large
params, the wrong content type or ``Accept``, no grant or a garbage one, both protocol
eras (the ``initialize`` one and the 2026-07-28 per-request envelope); and ``tools/call``
of write tools with arguments of the wrong shape.

Whatever it sends, the gateway answers, in time, never with a 5xx (nor a JSON-RPC internal
error, nor a tool result holding a 5xx problem: the same failure in other clothes): a
JSON-RPC error, a tool result flagged ``isError``, a ``202`` for what it takes as a
notification, or a 4xx.
And whatever it refused changed nothing but the refusal's own records (``_state``).

Not sent: ``subscriptions/listen``, whose stream stays open by design (``tests/surfaces/mcp``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import SCALE, SEED, FuzzGateway

pytestmark = pytest.mark.embedded

INTERNAL_ERROR = -32603
REQUEST_TIMEOUT_S = 60
"""Longer than the gateway's own action timeout (30 s): an answer that never comes is a hang."""
MODERN = "2026-07-28"
METHODS = (
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
)
WRITES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "orders.refund": (
        {
            "order_id": "o_1001",
            "amount": {"amount_minor": 100, "currency": "EUR"},
            "reason": "damaged",
            "idempotency_key": "fuzz",
        },
        ("order_id", "amount", "reason", "idempotency_key"),
    ),
    "accounts.update_email": ({"customer_id": "c_1", "email": "ada@example.com"}, ("customer_id", "email")),
    "accounts.update_settings": ({"customer_id": "c_2", "marketing_opt_in": True}, ("customer_id",)),
    "catalog.products.remove": ({"product_id": "p_kettle"}, ("product_id",)),
    "grants.revoke": ({"grant_id": "g_" + "0" * 24}, ("grant_id",)),
    "policies.update": ({"files": {"all.cedar": "permit (principal, action, resource);"}}, ("files",)),
    "orders.refund.revert": ({"call_id": "call_0", "reason": "fuzz"}, ("call_id",)),
}
"""Write tools with arguments that run (or park) as they are, and those that are required:
the fuzzer breaks them."""

SETTINGS = settings(
    max_examples=200 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        yield client


# -- what is sent --------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10
)
ids = st.integers() | st.text(max_size=12) | json_values
methods = st.sampled_from(METHODS) | st.text(max_size=30).filter(lambda m: "listen" not in m)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON-RPC request, each member right, wrong or missing."""
    message: dict[str, Any] = {}
    for member, right, wrong in (
        ("jsonrpc", st.just("2.0"), json_values),
        ("id", st.integers(0, 10**6), ids),
        ("method", methods, json_values),
        ("params", st.dictionaries(st.text(max_size=12), json_values, max_size=4), json_values),
    ):
        choice = draw(st.sampled_from(["right"] * 6 + ["wrong", "missing"]))
        if choice != "missing":
            message[member] = draw(right if choice == "right" else wrong)
    return message


TOOLS = ("orders.get", "orders.list", "customers.export", "catalog.search", "chamberlain.call_status", *WRITES)
URIS = ("shop://orders/", "shop://customers/", "chamberlain://calls/", "shop://", "file:///etc/", "")


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed request of a known method whose params are anything: past the envelope, to dispatch."""
    params: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2))
    method = draw(st.sampled_from(METHODS))
    if method == "tools/call":
        params["name"] = draw(st.sampled_from(TOOLS) | st.text(max_size=20))
        params["arguments"] = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4) | json_values)
    elif method == "resources/read":
        params["uri"] = draw(st.sampled_from(URIS)) + draw(st.text(max_size=30))
    return {"jsonrpc": "2.0", "id": draw(st.integers(0, 10**6)), "method": method, "params": params}


def _dumps(value: Any) -> bytes:
    """JSON as Python writes it: integers of any size, and ``Infinity`` (not JSON: fine here)."""
    return json.dumps(value).encode()


def _nested(depth: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"orders.get","arguments":' + (
        b'{"a":[' * depth + b"1" + b"]}" * depth + b"}}"
    )


def _huge(size: int) -> bytes:
    arguments = {"order_id": "x" * size}
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "orders.get", "arguments": arguments}}
    )


bodies = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    json_values.map(_dumps),
    envelopes().map(_dumps),
    requests().map(_dumps),
    requests().map(_dumps),
    st.lists(envelopes(), max_size=3).map(_dumps),  # batches
    envelopes().map(_dumps).flatmap(lambda b: st.integers(0, max(0, len(b) - 1)).map(lambda n: b[:n])),  # cut short
    st.sampled_from([10, 200, 5_000, 100_000]).map(_nested),
    st.sampled_from([100_000, 2_000_000]).map(_huge),  # the second is past max_body_bytes
)


def _mostly(usual: str, *others: str) -> st.SearchStrategy[str]:
    """``usual`` about three times in four: most requests get past the transport to the protocol."""
    return st.sampled_from([usual] * 3 * len(others) + list(others))


@st.composite
def headers(draw: st.DrawFn, token: str) -> dict[str, str]:
    found = {
        "Authorization": draw(_mostly(f"Bearer {token}", "", "Bearer garbage", "Bearer x.y.z", "Basic eDp5")),
        "Content-Type": draw(_mostly("application/json", "application/json; charset=utf-8", "text/plain", "")),
        "Accept": draw(_mostly("application/json, text/event-stream", "application/json", "text/event-stream", "text/html", "")),
        "MCP-Protocol-Version": draw(_mostly("2025-06-18", "", "2025-03-26", MODERN, "1999-01-01", "garbage")),
    }
    return {name: value for name, value in found.items() if value}


def _modern(message: dict[str, Any], version: str, capabilities: Any) -> dict[str, Any]:
    """``message`` in the 2026-07-28 envelope (its ``_meta``), as far as it has params to hold it."""
    params = message.get("params")
    if isinstance(params, dict):
        meta = {"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": capabilities}
        message = {**message, "params": {**params, "_meta": {**meta, **(params.get("_meta") or {})}}}
    return message


# -- what must hold ------------------------------------------------------------------


def _post(http: httpx.Client, fuzz: FuzzGateway, body: bytes, sent: dict[str, str]) -> httpx.Response:
    try:
        return http.post(fuzz.mcp_url, content=body, headers=sent)
    except httpx.TimeoutException:
        pytest.fail(f"no answer within {REQUEST_TIMEOUT_S}s (a hang) to {body[:300]!r} with {sent}")


def _refused(response: httpx.Response) -> bool:
    """The answer holds up to its protocol; whether it refused what was sent."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code == 202:  # a notification (or a response) taken, and nothing to say
        assert response.content == b"", response.text[:500]
        return True
    if response.status_code >= 400:
        return True
    assert response.status_code == 200, response.status_code
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    answer = orjson.loads(response.content)
    assert isinstance(answer, dict) and answer.get("jsonrpc") == "2.0", answer
    if "error" in answer:
        error = answer["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str), error
        assert error["code"] not in (0, INTERNAL_ERROR), f"a server error in JSON-RPC clothes: {error}"
        return True
    result = answer["result"]
    assert isinstance(result, dict), answer
    if result.get("isError"):
        structured = result.get("structuredContent") or {}
        assert isinstance(result["content"], list) and result["content"], result
        status = structured.get("status")  # a problem's HTTP status, or a parked call's "pending_approval"
        assert not (isinstance(status, int) and status >= 500), f"a server error in a tool result: {structured}"
        return structured.get("status") != "pending_approval"  # parked for a human: taken, not refused
    return False


def _outcome(response: httpx.Response) -> str:
    if response.status_code != 200:
        return str(response.status_code)
    answer = orjson.loads(response.content)
    if "error" in answer:
        return f"200 error {answer['error']['code']}"
    result = answer["result"]
    return f"200 isError {(result.get('structuredContent') or {}).get('code')}" if result.get("isError") else "200 result"


def _changes_nothing_if_refused(http: httpx.Client, fuzz: FuzzGateway, body: bytes, sent: dict[str, str]) -> httpx.Response:
    before = fuzz.state.mark()
    response = _post(http, fuzz, body, sent)
    event(_outcome(response))  # what the inputs reached: --hypothesis-show-statistics
    if _refused(response):
        changed = fuzz.state.changes_since(before)
        assert not changed, f"a refusal ({response.status_code} {response.text[:300]}) changed state:\n" + "\n".join(changed)
    return response


@SETTINGS
@seed(SEED)
@given(data=st.data())
def test_malformed_messages_are_refused_cleanly(fuzz_gateway: FuzzGateway, http: httpx.Client, data: st.DataObject) -> None:
    body = data.draw(bodies, label="body")
    sent = data.draw(headers(fuzz_gateway.token), label="headers")
    if data.draw(st.sampled_from([False, False, True]), label="modern envelope") and body.startswith(b"{"):
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to rewrite: sent as it is
            message = None
        if isinstance(message, dict):
            capabilities = data.draw(st.just({}) | json_values, label="capabilities")
            body = _dumps(_modern(message, data.draw(st.sampled_from([MODERN, "garbage"])), capabilities))
            if isinstance(message.get("method"), str) and message["method"].isascii() and message["method"].isprintable():
                sent = {**sent, "MCP-Protocol-Version": MODERN, "Mcp-Method": message["method"]}
    _changes_nothing_if_refused(http, fuzz_gateway, body, sent)


@st.composite
def broken_arguments(draw: st.DrawFn) -> tuple[str, Any]:
    """A write tool and arguments that its input contract refuses whatever the values."""
    name = draw(st.sampled_from(sorted(WRITES)))
    good, required = WRITES[name]
    how = draw(st.sampled_from(["not an object", "a required one missing", "an unknown one", "a wrong shape"]))
    if how == "not an object":
        return name, draw(st.lists(json_values, max_size=3) | scalars.filter(lambda v: v is not None))
    if how == "a required one missing":
        missing = draw(st.sampled_from(required))
        return name, {k: v for k, v in good.items() if k != missing}
    if how == "an unknown one":
        extra = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in good and k != "idempotency_key"))
        return name, {**good, extra: draw(json_values)}
    key = draw(st.sampled_from(sorted(good)))
    value = good[key]
    # No contract coerces these: an object or a list for a string or a flag, a list or a
    # huge string for an object.
    shapes = [{"nested": {"deeper": [1, 2]}}, [value]] if not isinstance(value, dict) else [[value], "x" * 300_000, 42]
    return name, {**good, key: draw(st.sampled_from(shapes))}


@SETTINGS
@seed(SEED)
@given(call=broken_arguments(), meta=st.none() | json_values, token=st.sampled_from(["grant", "agent"]))
def test_write_tools_refuse_bad_arguments_and_change_nothing(
    fuzz_gateway: FuzzGateway, http: httpx.Client, call: tuple[str, Any], meta: Any, token: str
) -> None:
    name, arguments = call
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    body = _dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params})
    grant = fuzz_gateway.token if token == "grant" else fuzz_gateway.agent_token
    sent = {
        "Authorization": f"Bearer {grant}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    response = _changes_nothing_if_refused(http, fuzz_gateway, body, sent)
    assert _refused(response), f"{name} ran with {str(arguments)[:300]}: {response.text[:300]}"


def test_the_fuzzers_inputs_reach_the_tools(fuzz_gateway: FuzzGateway, http: httpx.Client) -> None:
    """The unbroken arguments do run or park (so what the fuzzer breaks is what is refused)."""
    sent = {"Authorization": f"Bearer {fuzz_gateway.token}", "Accept": "application/json, text/event-stream"}
    good = WRITES["accounts.update_email"][0]
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "accounts.update_email"}}
    body["params"]["arguments"] = good
    answer = http.post(fuzz_gateway.mcp_url, json=body, headers=sent).json()["result"]
    assert answer["structuredContent"]["status"] == "pending_approval", answer
    body["params"]["arguments"] = {**good, "email": 5}
    refused = http.post(fuzz_gateway.mcp_url, json=body, headers=sent).json()["result"]
    assert refused["isError"] and refused["structuredContent"]["code"] == "invalid-input", refused
