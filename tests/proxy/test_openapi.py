"""Governing an existing REST API from its OpenAPI document, against a real upstream.

The upstream is a small FastAPI service on loopback that records every request it gets
(headers included). Its OpenAPI comes from the app itself (3.1, as FastAPI writes it)
and from a hand-written 3.0 file beside this module (``petstore-3.0.yaml``).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sql
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from chamberlain import Surface
from chamberlain.actions import Action
from chamberlain.app import Runtime, create_app
from chamberlain.errors import (
    InternalError,
    InvalidInput,
    UpstreamFailed,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from chamberlain.pipeline import REVERT_CALLS, Call
from chamberlain.proxy import HttpUpstream, UpstreamPolicy
from chamberlain.proxy._forward import build_request
from chamberlain.proxy._openapi import OpenApiError, UndoOperation, load_spec, openapi_actions
from chamberlain.proxy._operations import read_operations, snake_case
from chamberlain.store import idempotency_keys, tenant_scope
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, new_key, permit_all
from tests.helpers import free_port, serve_in_thread

API_KEY = "upstream-secret"
"""The credential the gateway holds for the upstream; the upstream refuses anything else."""
YAML = Path(__file__).with_name("petstore-3.0.yaml")
FAST = UpstreamPolicy(timeout_s=5.0, retries=2, backoff_s=0.01)


# --- the upstream ---------------------------------------------------------------------


class Money(BaseModel):
    amount_minor: int = Field(ge=0)
    currency: str = Field(pattern="^[A-Z]{3}$")


class PetIn(BaseModel):
    name: str = Field(min_length=1)
    tag: str | None = None


class Pet(PetIn):
    id: str


class RefundIn(BaseModel):
    amount: Money
    reason: str


class Refund(BaseModel):
    refund_id: str
    payment_id: str
    amount: Money
    status: str


class CancelIn(BaseModel):
    note: str | None = None


class Cancelled(BaseModel):
    refund_id: str
    status: str
    note: str | None = None


@dataclass
class Hit:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any
    raw_path: str = ""


@dataclass
class Recorder:
    """What the upstream was sent, and the levers tests pull on it."""

    hits: list[Hit] = field(default_factory=list)
    pets: dict[str, Pet] = field(default_factory=dict)
    seen: Counter[str] = field(default_factory=Counter)
    _events: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def to(self, method: str, path: str) -> list[Hit]:
        return [h for h in self.hits if h.method == method and h.path == path]

    def reset(self) -> None:
        self.hits.clear()
        self.seen.clear()
        self.pets.clear()
        self.pets["p_1"] = Pet(id="p_1", name="Rex", tag="dog")
        for event in self._events.values():
            event.set()  # let any request still parked on a gate go
        self._events.clear()


def upstream_app(rec: Recorder) -> FastAPI:
    app = FastAPI(title="Petstore", version="1.0.0")

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        if request.url.path == "/healthz":
            return JSONResponse({"ok": True})
        raw = await request.body()
        rec.hits.append(
            Hit(
                request.method,
                request.url.path,
                list(request.query_params.multi_items()),
                {k.lower(): v for k, v in request.headers.items()},
                orjson.loads(raw) if raw else None,
                request.scope["raw_path"].decode(),
            )
        )
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"detail": "unknown credentials"}, status_code=401)
        return await call_next(request)

    @app.get("/pets", operation_id="listPets", summary="List pets")
    async def list_pets(tag: str | None = None, limit: int = 10) -> list[Pet]:
        return [p for p in rec.pets.values() if tag is None or p.tag == tag][:limit]

    @app.post("/pets", operation_id="createPet", status_code=201, summary="Add a pet")
    async def create_pet(pet: PetIn) -> Pet:
        made = Pet(id=f"p_{len(rec.pets) + 1}", **pet.model_dump())
        rec.pets[made.id] = made
        return made

    @app.get("/pets/{pet_id}", operation_id="getPet", summary="One pet", description="A pet, by its id.")
    async def get_pet(pet_id: str) -> Pet:
        if pet_id not in rec.pets:
            raise HTTPException(404, f"no pet {pet_id}")
        return rec.pets[pet_id]

    @app.delete("/pets/{pet_id}", operation_id="deletePet", status_code=204)
    async def delete_pet(pet_id: str) -> Response:
        rec.pets.pop(pet_id, None)
        return Response(status_code=204)

    @app.post("/payments/{payment_id}/refunds", operation_id="createRefund", status_code=201)
    async def create_refund(payment_id: str, refund: RefundIn) -> Refund:
        return Refund(refund_id=f"rf_{payment_id}", payment_id=payment_id, amount=refund.amount, status="done")

    @app.post("/refunds/{refund_id}/cancel", operation_id="cancelRefund")
    async def cancel_refund(refund_id: str, body: CancelIn) -> Cancelled:
        return Cancelled(refund_id=refund_id, status="cancelled", note=body.note)

    @app.get("/flaky/{key}", operation_id="getFlaky")
    async def get_flaky(key: str, fail: int = 0) -> Any:
        return _flaky(rec, key, fail)

    @app.post("/flaky/{key}", operation_id="postFlaky")
    async def post_flaky(key: str, fail: int = 0) -> Any:
        return _flaky(rec, key, fail)

    @app.get("/status/{code}", operation_id="getStatus")
    async def status(code: int) -> Any:
        return JSONResponse({"detail": f"asked for {code}"}, status_code=code)

    @app.get("/slow/{key}", operation_id="getSlow")
    def slow(key: str) -> dict[str, str]:
        rec.event(f"arrived:{key}").set()
        rec.event(f"release:{key}").wait(30)
        return {"slow": key}

    return app


def _flaky(rec: Recorder, key: str, fail: int) -> Any:
    """503 for the first ``fail`` requests for ``key``, then 200."""
    rec.seen[key] += 1
    if rec.seen[key] <= fail:
        return JSONResponse({"detail": "busy"}, status_code=503)
    return {"key": key, "attempt": rec.seen[key]}


RECORDER = Recorder()
APP = upstream_app(RECORDER)
FASTAPI_SPEC = APP.openapi()


@pytest.fixture(scope="module")
def upstream_base() -> Iterator[str]:
    with serve_in_thread(APP, free_port()) as base:
        yield base
    RECORDER.reset()


@pytest.fixture
def rec(upstream_base: str) -> Iterator[Recorder]:
    RECORDER.reset()
    yield RECORDER
    RECORDER.reset()


@pytest.fixture
async def upstreams(upstream_base: str) -> AsyncIterator[Any]:
    """Make ``HttpUpstream``s to the test upstream with the gateway's credentials; closed after."""
    made: list[HttpUpstream] = []

    def make(name: str = "petstore", policy: UpstreamPolicy = FAST) -> HttpUpstream:
        made.append(HttpUpstream(name, upstream_base, headers={"X-Api-Key": API_KEY}, policy=policy))
        return made[-1]

    yield make
    for upstream in made:
        await upstream.close()


@asynccontextmanager
async def gateway(tmp_path: Path, actions: list[Action], surface: Surface | None = None) -> AsyncIterator[tuple[Runtime, str]]:
    """A running gateway whose surface holds ``actions``, tenant ``acme``, and a grant for all of it."""
    surface = surface or Surface("proxied")
    for action in actions:
        surface.add(action)
    rt = make_runtime(surface, tmp_path / "data")
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        yield rt, await issue(rt)


async def run(rt: Runtime, token: str, action: str, arguments: Any, key: str | None = None) -> Any:
    return await rt.gateway.call(Call(action, arguments, token, "test", idempotency_key=key or new_key()))


def by_name(actions: list[Action]) -> dict[str, Action]:
    return {a.name: a for a in actions}


# --- actions from the document ----------------------------------------------------------


async def test_each_operation_becomes_an_action_with_contracts_and_a_risk_class(upstreams: Any) -> None:
    actions = by_name(openapi_actions(FASTAPI_SPEC, upstreams(), namespace="petstore", risk={"deletePet": "account"}))
    assert {"petstore.get_pet", "petstore.list_pets", "petstore.create_pet", "petstore.delete_pet"} <= set(actions)
    get, create, delete = actions["petstore.get_pet"], actions["petstore.create_pet"], actions["petstore.delete_pet"]
    assert (get.risk, get.idempotent, get.hints["readOnlyHint"]) == ("read", True, True)
    assert (create.risk, create.idempotent) == ("write", False)
    assert (delete.risk, delete.idempotent, delete.hints["destructiveHint"]) == ("account", True, True)
    assert (get.title, get.description, get.version) == ("One pet", "A pet, by its id.", 1)

    assert get.contract.input_schema["required"] == ["pet_id"]
    assert get.contract.output_schema is not None and get.contract.output_schema["properties"]["id"]["type"] == "string"
    body = create.contract.input_schema  # the JSON body, flattened: name and tag are top-level arguments
    assert set(body["properties"]) == {"name", "tag"} and body["required"] == ["name"]
    assert body["additionalProperties"] is False
    listed = actions["petstore.list_pets"].contract
    assert listed.wraps_output and listed.output_schema is not None and listed.output_schema["required"] == ["result"]
    status_only = {"type": "object", "properties": {"status": {"type": "integer"}}, "required": ["status"]}
    assert delete.contract.output_schema == status_only


async def test_include_selects_and_mistakes_are_refused_at_start(upstreams: Any) -> None:
    up = upstreams()
    chosen = openapi_actions(FASTAPI_SPEC, up, namespace="shop.pets", include=["getPet", "POST /pets", "GET /flaky/*"])
    assert sorted(a.name for a in chosen) == ["shop.pets.create_pet", "shop.pets.get_flaky", "shop.pets.get_pet"]
    all_but = openapi_actions(FASTAPI_SPEC, up, namespace="p", include=["!* /flaky/*", "!getSlow"])
    assert not {"p.get_flaky", "p.post_flaky", "p.get_slow"} & {a.name for a in all_but} and "p.get_pet" in by_name(all_but)
    with pytest.raises(OpenApiError, match="matches no operation"):
        openapi_actions(FASTAPI_SPEC, up, namespace="p", include=["getPett"])
    with pytest.raises(OpenApiError, match="names no operation"):
        openapi_actions(FASTAPI_SPEC, up, namespace="p", risk={"createRefnud": "money"})
    with pytest.raises(OpenApiError, match="not one of"):
        openapi_actions(FASTAPI_SPEC, up, namespace="p", risk={"createRefund": "cash"})
    with pytest.raises(OpenApiError, match="dotted lower-case"):
        openapi_actions(FASTAPI_SPEC, up, namespace="Pets", include=["getPet"])
    with pytest.raises(OpenApiError, match="nothing to undo"):
        openapi_actions(FASTAPI_SPEC, up, namespace="p", undo={"getPet": "deletePet"})
    with pytest.raises(OpenApiError, match="Swagger"):
        load_spec('{"swagger": "2.0", "paths": {}}')
    with pytest.raises(OpenApiError, match="neither a readable file"):
        load_spec("no-such-spec.yaml")


async def test_a_30_document_is_read_as_json_schema_2020_12(upstreams: Any) -> None:
    actions = by_name(openapi_actions(YAML, upstreams(), namespace="petstore"))
    # What cannot be governed is skipped when nothing asked for it by name...
    assert "petstore.upload_photo" not in actions and "petstore.get_owner" not in actions
    listed = actions["petstore.list_pets"].contract.input_schema["properties"]
    assert listed["tag"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}  # nullable
    assert listed["limit"] == {"type": "integer", "exclusiveMinimum": 0, "maximum": 100, "examples": [10]}
    assert "X-Api-Key" not in listed and "x_api_key" not in listed  # the upstream's credential is the gateway's
    create = actions["petstore.create_pet"]
    props = create.contract.input_schema["properties"]
    assert set(props) == {"x_request_region", "name", "tag"}  # id is readOnly; Idempotency-Key is the gateway's
    assert create.idempotent  # a POST that takes an Idempotency-Key can be retried
    assert create.contract.output_schema is not None and "id" in create.contract.output_schema["properties"]
    refund = actions["petstore.create_refund"]
    assert (refund.risk, refund.version, refund.undo) == ("money", 2, None)
    amount = refund.contract.input_schema["properties"]["amount"]
    assert amount["properties"]["currency"]["examples"] == ["EUR"] and amount["required"] == ["amount_minor", "currency"]
    assert refund.contract.output_schema is not None
    assert refund.contract.output_schema["properties"]["status"]["enum"] == ["NO", "done"]  # YAML's NO is a string
    # ...and refused when asked for.
    with pytest.raises(OpenApiError, match="only JSON bodies"):
        openapi_actions(YAML, upstreams(), namespace="petstore", include=["uploadPhoto"])
    with pytest.raises(OpenApiError, match="external references are not supported"):
        openapi_actions(YAML, upstreams(), namespace="petstore", include=["GET /pets/{pet_id}/owner"])


def test_names_come_from_operation_ids_in_snake_case() -> None:
    ids = ["getPetById", "pets_list", "HTTPServerStatus", "listPets-v2", "GET /pets/{petId}", "2fa"]
    assert [snake_case(i) for i in ids] == [
        "get_pet_by_id",
        "pets_list",
        "http_server_status",
        "list_pets_v2",
        "get_pets_pet_id",
        "op_2fa",
    ]


def test_arguments_are_placed_and_serialised_as_the_operation_says() -> None:
    params = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "array", "items": {"type": "string"}}},
        {"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}},
        {"name": "tags", "in": "query", "explode": False, "schema": {"type": "array", "items": {"type": "string"}}},
        {"name": "filter", "in": "query", "style": "deepObject", "explode": True, "schema": {"type": "object"}},
        {"name": "flag", "in": "query", "schema": {"type": "boolean"}},
        {"name": "X-Trace-Me", "in": "header", "schema": {"type": "string"}},
        {"name": "body", "in": "query", "schema": {"type": "string"}},
    ]
    body = {"content": {"application/merge-patch+json": {"schema": {"type": "object", "properties": {"name": {}, "flag": {}}}}}}
    doc = {
        "openapi": "3.1.0",
        "paths": {"/things/{id}": {"patch": {"operationId": "patchThing", "parameters": params, "requestBody": body}}},
    }
    (op,) = read_operations(load_spec(doc))
    # The body's "flag" clashes with a parameter, so it travels whole; "body" is a parameter's name.
    assert op.body is not None and op.body.argument == "request_body"
    sent = build_request(
        op,
        {
            "id": ["a b", "c/d"],
            "ids": [1, 2],
            "tags": ["x", "y"],
            "filter": {"kind": "cat"},
            "flag": True,
            "x_trace_me": "yes",
            "body": "q",
            "request_body": {"name": "Tom"},
        },
    )
    assert sent.path == "/things/a%20b,c%2Fd"
    assert sent.params == {"ids": ["1", "2"], "tags": ["x,y"], "filter[kind]": ["cat"], "flag": ["true"], "body": ["q"]}
    assert sent.headers["X-Trace-Me"] == "yes" and sent.headers["Content-Type"] == "application/merge-patch+json"
    assert sent.json == {"name": "Tom"}
    with pytest.raises(InvalidInput):
        build_request(op, {"id": ["a"], "x_trace_me": "a\r\nX-Api-Key: mine"})


# --- calls ----------------------------------------------------------------------------


async def test_calls_go_upstream_with_the_gateways_credentials_and_the_calls_trace(
    tmp_path: Path, rec: Recorder, upstreams: Any
) -> None:
    async with gateway(tmp_path, openapi_actions(FASTAPI_SPEC, upstreams(), namespace="petstore")) as (rt, token):
        got = await run(rt, token, "petstore.get_pet", {"pet_id": "p_1"})
        assert got.ok, got.error
        assert got.result == {"id": "p_1", "name": "Rex", "tag": "dog"}
        listed = await run(rt, token, "petstore.list_pets", {"tag": "dog", "limit": 5})
        assert listed.ok and listed.result == {"result": [{"id": "p_1", "name": "Rex", "tag": "dog"}]}
        made = await run(rt, token, "petstore.create_pet", {"name": "Fido / the 2nd", "tag": None})
        assert made.ok and made.result["id"] == "p_2"
        again = await run(rt, token, "petstore.get_pet", {"pet_id": "p_2"})
        assert again.ok and again.result["name"] == "Fido / the 2nd"
        gone = await run(rt, token, "petstore.delete_pet", {"pet_id": "p_2"})
        assert gone.ok and gone.result == {"status": 204}

    assert [(h.method, h.path) for h in rec.hits] == [
        ("GET", "/pets/p_1"),
        ("GET", "/pets"),
        ("POST", "/pets"),
        ("GET", "/pets/p_2"),
        ("DELETE", "/pets/p_2"),
    ]
    assert rec.hits[1].query == [("tag", "dog"), ("limit", "5")]
    assert rec.hits[2].body == {"name": "Fido / the 2nd", "tag": None}
    for hit, out in zip(rec.hits, [got, listed, made, again, gone], strict=True):
        assert hit.headers["x-api-key"] == API_KEY
        assert hit.headers["traceparent"].split("-")[1] == out.call.trace_id
        assert "authorization" not in hit.headers and "cookie" not in hit.headers
        assert not any(token in value for value in hit.headers.values())


async def test_path_parameters_are_encoded_and_cannot_walk_the_path(tmp_path: Path, rec: Recorder, upstreams: Any) -> None:
    async with gateway(tmp_path, openapi_actions(FASTAPI_SPEC, upstreams(), namespace="petstore")) as (rt, token):
        missing = await run(rt, token, "petstore.get_pet", {"pet_id": "a/../b?x=1"})
        assert isinstance(missing.error, UpstreamNotFound)
    assert rec.hits[0].raw_path == "/pets/a%2F..%2Fb%3Fx%3D1"  # one segment: no path walked, no query smuggled
    assert rec.hits[0].query == []


async def test_invalid_arguments_never_reach_the_upstream(tmp_path: Path, rec: Recorder, upstreams: Any) -> None:
    async with gateway(tmp_path, openapi_actions(FASTAPI_SPEC, upstreams(), namespace="petstore")) as (rt, token):
        for action, arguments in [
            ("petstore.get_pet", {}),
            ("petstore.get_pet", {"pet_id": 7}),
            ("petstore.get_pet", {"pet_id": ".."}),
            ("petstore.get_pet", {"pet_id": ""}),
            ("petstore.get_pet", {"pet_id": "p_1", "authorization": "Bearer x"}),
            ("petstore.list_pets", {"limit": "ten"}),
            ("petstore.create_pet", {"tag": "cat"}),
            ("petstore.create_pet", {"name": "Tom", "body": {"name": "Tom"}}),
            ("petstore.create_refund", {"payment_id": "pay_1", "amount": {"amount_minor": -1, "currency": "EUR"}, "reason": "x"}),
        ]:
            out = await run(rt, token, action, arguments)
            assert isinstance(out.error, InvalidInput), (action, arguments, out.error)
    assert rec.hits == []


async def test_a_money_override_parks_a_large_amount_for_approval(tmp_path: Path, rec: Recorder, upstreams: Any) -> None:
    """The default policies judge a proxied money action by its amount, as a native refund."""
    up = upstreams()
    money = openapi_actions(FASTAPI_SPEC, up, namespace="billing", include=["createRefund"], risk={"createRefund": "money"})
    plain = openapi_actions(FASTAPI_SPEC, up, namespace="plain", include=["createRefund"])
    assert (money[0].risk, money[0].requires_idempotency_key, plain[0].risk) == ("money", True, "write")
    big = {"payment_id": "pay_1", "amount": {"amount_minor": 20_000, "currency": "EUR"}, "reason": "broken"}
    async with gateway(tmp_path, money + plain) as (rt, token):
        parked = await run(rt, token, "billing.create_refund", big)
        assert parked.pending and parked.error is None
        assert rec.hits == []  # nothing reached the upstream while it waits for a human
        ran = await run(rt, token, "plain.create_refund", big)
        assert ran.ok and ran.result["refund_id"] == "rf_pay_1"
    assert len(rec.to("POST", "/payments/pay_1/refunds")) == 1


async def test_a_small_proxied_money_movement_runs_without_a_human(tmp_path: Path, rec: Recorder, upstreams: Any) -> None:
    money = {"createRefund": "money"}
    actions = openapi_actions(FASTAPI_SPEC, upstreams(), namespace="billing", include=["createRefund"], risk=money)
    async with gateway(tmp_path, actions) as (rt, token):
        big = {"payment_id": "pay_1", "amount": {"amount_minor": 20_000, "currency": "EUR"}, "reason": "broken"}
        parked = await run(rt, token, "billing.create_refund", big)
        assert parked.approval["policies"] == ["default-approve-large-money"]
        small = await run(rt, token, "billing.create_refund", dict(big, amount={"amount_minor": 1000, "currency": "EUR"}))
        assert small.ok, small.error


# --- upstream failures ------------------------------------------------------------------


async def test_upstream_errors_become_problem_types_with_the_upstream_status(
    tmp_path: Path, rec: Recorder, upstreams: Any
) -> None:
    patient = openapi_actions(FASTAPI_SPEC, upstreams(), namespace="petstore", include=["getPet", "getStatus"])
    hasty = openapi_actions(
        FASTAPI_SPEC,
        upstreams("hasty", UpstreamPolicy(timeout_s=0.2, retries=0)),
        namespace="hasty",
        include=["getSlow"],
    )
    async with gateway(tmp_path, patient + hasty) as (rt, token):
        missing = await run(rt, token, "petstore.get_pet", {"pet_id": "p_404"})
        assert isinstance(missing.error, UpstreamNotFound)
        problem = missing.error.to_problem()
        assert (problem["status"], problem["upstream_status"], problem["upstream"]) == (404, 404, "petstore")
        assert "no pet p_404" in problem["upstream_detail"]
        rejected = await run(rt, token, "petstore.get_status", {"code": 422})
        assert isinstance(rejected.error, UpstreamRejected) and rejected.error.extra["upstream_status"] == 422
        failed = await run(rt, token, "petstore.get_status", {"code": 500})
        assert isinstance(failed.error, UpstreamFailed) and failed.error.extra["upstream_status"] == 500
        assert failed.error.extra["upstream_detail"] == ""  # a failing server's text is not passed on
        late = await run(rt, token, "hasty.get_slow", {"key": "timeout"})
        assert isinstance(late.error, UpstreamTimeout) and late.error.to_problem()["status"] == 504
        record = await rt.gateway.record(await rt.authority.verify(token), failed.call.id)
        assert record["outcome"] == "error" and record["error_type"].endswith("/upstream-failed")
    rec.event("release:timeout").set()


async def test_only_idempotent_operations_are_retried(tmp_path: Path, rec: Recorder, upstreams: Any) -> None:
    up = upstreams()
    fastapi_ops = openapi_actions(FASTAPI_SPEC, up, namespace="api", include=["getFlaky", "postFlaky"])
    keyed = openapi_actions(YAML, up, namespace="keyed", include=["postFlakyWithKey"])
    async with gateway(tmp_path, fastapi_ops + keyed) as (rt, token):
        got = await run(rt, token, "api.get_flaky", {"key": "g", "fail": 2})
        assert got.ok and got.result == {"key": "g", "attempt": 3}
        posted = await run(rt, token, "api.post_flaky", {"key": "p", "fail": 1})
        assert isinstance(posted.error, UpstreamFailed) and posted.error.extra["upstream_status"] == 503
        with_key = await run(rt, token, "keyed.post_flaky_with_key", {"key": "k", "fail": 2})
        assert with_key.ok and with_key.result["attempt"] == 3
    assert len(rec.to("GET", "/flaky/g")) == 3
    assert len(rec.to("POST", "/flaky/p")) == 1
    keys = [h.headers["idempotency-key"] for h in rec.to("POST", "/flaky/k")]
    assert len(keys) == 3 and len(set(keys)) == 1  # one call, one key, every attempt
    assert keys[0].startswith("chamberlain-") and with_key.call.id not in keys[0]  # the caller's retries share it
    assert "idempotency-key" not in rec.to("POST", "/flaky/p")[0].headers


async def test_a_retry_whose_first_outcome_was_lost_sends_the_upstream_the_same_key(
    tmp_path: Path, rec: Recorder, upstreams: Any
) -> None:
    """A process that dies after the upstream acted and before its own commit keeps no
    record of the key: the caller's retry runs again, and the upstream can only tell it
    is a retry if it gets the same key. Another caller's identical key is another key."""
    keyed = openapi_actions(YAML, upstreams(), namespace="keyed", include=["postFlakyWithKey"])
    async with gateway(tmp_path, keyed) as (rt, token):
        key = new_key()
        first = await run(rt, token, "keyed.post_flaky_with_key", {"key": "lost"}, key)
        with tenant_scope("acme"):  # what a crash before the commit leaves: no key row
            async with rt.store.transaction() as tx:
                await tx.execute(sql.delete(idempotency_keys))
        retry = await run(rt, token, "keyed.post_flaky_with_key", {"key": "lost"}, key)
        theirs = await run(rt, await issue(rt, principal="agent:other"), "keyed.post_flaky_with_key", {"key": "lost"}, key)
    assert first.ok and retry.ok and theirs.ok and retry.replay_of is None and retry.call.id != first.call.id
    sent = [h.headers["idempotency-key"] for h in rec.to("POST", "/flaky/lost")]
    assert len(sent) == 3 and sent[0] == sent[1] != sent[2]


async def test_the_circuit_opens_after_failures_and_half_opens_after_its_reset_time(
    tmp_path: Path, rec: Recorder, upstreams: Any
) -> None:
    up = upstreams(policy=UpstreamPolicy(retries=0, breaker_failures=2, breaker_reset_s=30.0))
    now = [1000.0]
    up.breaker.clock = lambda: now[0]
    actions = openapi_actions(FASTAPI_SPEC, up, namespace="petstore", include=["getStatus", "getPet"])
    async with gateway(tmp_path, actions) as (rt, token):
        for _ in range(2):
            assert isinstance((await run(rt, token, "petstore.get_status", {"code": 500})).error, UpstreamFailed)
        refused = await run(rt, token, "petstore.get_pet", {"pet_id": "p_1"})
        assert isinstance(refused.error, UpstreamUnavailable) and refused.error.extra["retry_after"] == 30.0
        assert len(rec.hits) == 2  # refused fast: the upstream was not asked
        now[0] += 30.0  # half-open: one trial goes through; its success closes the circuit
        trial = await run(rt, token, "petstore.get_pet", {"pet_id": "p_1"})
        assert trial.ok and up.breaker.state == "closed"
        for _ in range(2):
            await run(rt, token, "petstore.get_status", {"code": 503})
        now[0] += 30.0  # half-open again; a failing trial opens it at once
        assert isinstance((await run(rt, token, "petstore.get_status", {"code": 500})).error, UpstreamFailed)
        assert isinstance((await run(rt, token, "petstore.get_pet", {"pet_id": "p_1"})).error, UpstreamUnavailable)
    assert len(rec.hits) == 6


async def test_a_slow_upstream_blocks_neither_another_upstream_nor_a_native_action(
    tmp_path: Path, rec: Recorder, upstreams: Any
) -> None:
    surface = Surface("mixed")

    @surface.action("local.echo", risk="read")
    async def echo(text: str) -> dict[str, str]:
        return {"text": text}

    slow = openapi_actions(FASTAPI_SPEC, upstreams("slowpoke"), namespace="slowpoke", include=["getSlow"])
    fast = openapi_actions(FASTAPI_SPEC, upstreams("petstore"), namespace="petstore", include=["getPet"])
    finished: list[str] = []

    async def tracked(name: str, rt: Runtime, token: str, action: str, arguments: Any) -> Any:
        out = await run(rt, token, action, arguments)
        finished.append(name)
        return out

    async with gateway(tmp_path, slow + fast, surface) as (rt, token):
        waiting = asyncio.create_task(tracked("slow", rt, token, "slowpoke.get_slow", {"key": "c"}))
        assert await asyncio.to_thread(rec.event("arrived:c").wait, 30)  # the slow request is at the upstream
        other = await tracked("other upstream", rt, token, "petstore.get_pet", {"pet_id": "p_1"})
        native = await tracked("native", rt, token, "local.echo", {"text": "hi"})
        assert other.ok and native.ok and not waiting.done()
        rec.event("release:c").set()
        assert (await waiting).result == {"slow": "c"}
    assert finished == ["other upstream", "native", "slow"]


# --- governance -------------------------------------------------------------------------


async def test_calls_are_audited_and_an_idempotency_key_replays_without_a_second_upstream_call(
    tmp_path: Path, rec: Recorder, upstreams: Any
) -> None:
    async with gateway(tmp_path, openapi_actions(FASTAPI_SPEC, upstreams(), namespace="petstore")) as (rt, token):
        key = new_key()
        first = await run(rt, token, "petstore.create_pet", {"name": "Tom"}, key)
        again = await run(rt, token, "petstore.create_pet", {"name": "Tom"}, key)
        assert first.ok and again.ok and again.replay_of == first.call.id and again.result == first.result
        entry = (await rt.audit.entry("acme", first.audit_index))["entry"]
        assert (entry["kind"], entry["call_id"], entry["action"]) == ("call.executed", first.call.id, "petstore.create_pet")
        assert entry["trace_id"] == first.call.trace_id
        failed = await run(rt, token, "petstore.get_pet", {"pet_id": "p_9"})
        refused = (await rt.audit.entry("acme", failed.audit_index))["entry"]
        assert refused["action"] == "petstore.get_pet" and refused["error_type"].endswith("/upstream-not-found")
    assert len(rec.to("POST", "/pets")) == 1


async def test_undo_calls_the_compensating_operation_with_arguments_from_the_call(
    tmp_path: Path, rec: Recorder, upstreams: Any
) -> None:
    """FastAPI's document declares no links: the compensation's ``refund_id`` is found by
    name in the refund's answer, its ``note`` is the revert's reason."""
    undo = UndoOperation("cancelRefund", arguments={"note": "$revert.reason"}, window="30d")
    actions = openapi_actions(
        FASTAPI_SPEC, upstreams(), namespace="billing", include=["createRefund"], undo={"createRefund": undo}
    )
    assert sorted(a.name for a in actions) == ["billing.create_refund", "billing.create_refund.revert"]
    original, revert = by_name(actions)["billing.create_refund"], by_name(actions)["billing.create_refund.revert"]
    assert original.reversibility() == {"action": "billing.create_refund.revert", "window_s": 30 * 86400}
    assert (revert.reverts, revert.risk, set(revert.contract.input_schema["properties"])) == (
        "billing.create_refund",
        "write",
        {"call_id", "reason"},
    )
    async with gateway(tmp_path, actions) as (rt, token):
        await permit_all(rt)
        refund = {"payment_id": "pay_7", "amount": {"amount_minor": 700, "currency": "EUR"}, "reason": "wrong size"}
        done = await run(rt, token, "billing.create_refund", refund)
        assert done.ok, done.error
        out = await rt.gateway.call(Call(REVERT_CALLS, {"reason": "refunded by mistake"}, token, "test", revert_of=done.call.id))
        assert out.ok, out.error
        assert out.call.action_name == "billing.create_refund.revert"
        assert out.result == {"refund_id": "rf_pay_7", "status": "cancelled", "note": "refunded by mistake"}
        twice = await rt.gateway.call(Call(REVERT_CALLS, {}, token, "test", revert_of=done.call.id))
        assert twice.error is not None and twice.error.code == "already-reverted"
    (cancel,) = rec.to("POST", "/refunds/rf_pay_7/cancel")
    assert cancel.body == {"note": "refunded by mistake"} and cancel.headers["x-api-key"] == API_KEY
    assert cancel.headers["traceparent"].split("-")[1] == out.call.trace_id


async def test_undo_follows_the_documents_links(tmp_path: Path, rec: Recorder, upstreams: Any) -> None:
    undo = {"createRefund": "cancelRefund"}
    actions = openapi_actions(YAML, upstreams(), namespace="billing", include=["createRefund"], undo=undo)
    assert by_name(actions)["billing.create_refund.revert"].risk == "money"  # the original's, by default
    async with gateway(tmp_path, actions) as (rt, token):
        await permit_all(rt)
        refund = {"payment_id": "pay_8", "amount": {"amount_minor": 800, "currency": "EUR"}, "reason": "late"}
        done = await run(rt, token, "billing.create_refund", refund)
        assert done.ok, done.error
        out = await rt.gateway.call(Call(REVERT_CALLS, {}, token, "test", revert_of=done.call.id))
        assert out.ok, out.error
    (cancel,) = rec.to("POST", "/refunds/rf_pay_8/cancel")
    assert cancel.body == {"note": "cancelled through the gateway"}


async def test_an_undo_whose_arguments_cannot_be_found_is_refused(tmp_path: Path, rec: Recorder, upstreams: Any) -> None:
    up = upstreams()
    with pytest.raises(OpenApiError, match="nothing gives its required argument 'pet_id'"):
        openapi_actions(FASTAPI_SPEC, up, namespace="p", include=["createRefund"], undo={"createRefund": "deletePet"})
    with pytest.raises(OpenApiError, match="has no argument 'nope'"):
        openapi_actions(
            FASTAPI_SPEC, up, namespace="p", include=["createPet"], undo={"createPet": UndoOperation("deletePet", {"nope": 1})}
        )
    # Mapped to a field the answer turns out not to have: the revert fails, nothing is sent.
    odd = UndoOperation("deletePet", {"pet_id": "$response.body#/no_such_field"})
    actions = openapi_actions(FASTAPI_SPEC, up, namespace="p", include=["createPet"], undo={"createPet": odd})
    async with gateway(tmp_path, actions) as (rt, token):
        made = await run(rt, token, "p.create_pet", {"name": "Kit"})
        out = await rt.gateway.call(Call(REVERT_CALLS, {}, token, "test", revert_of=made.call.id))
        assert isinstance(out.error, InternalError)
        record = await rt.gateway.record(await rt.authority.verify(token), made.call.id)
        assert record["revert"]["reverted_by"] is None  # rolled back: still revertible once the mapping is fixed
    assert rec.to("DELETE", "/pets/p_2") == []


# --- over HTTP ---------------------------------------------------------------------------


def test_over_rest_the_agents_grant_stays_at_the_gateway(tmp_path: Path, rec: Recorder, upstream_base: str) -> None:
    up = HttpUpstream("petstore", upstream_base, headers={"X-Api-Key": API_KEY}, policy=FAST)
    undo = UndoOperation("deletePet", {"pet_id": "$response.body#/id"})
    actions = openapi_actions(FASTAPI_SPEC, up, namespace="petstore", include=["getPet", "createPet"], undo={"createPet": undo})
    surface = Surface("proxied")
    for action in actions:
        surface.add(action)
    data = tmp_path / "data"

    async def prepare() -> str:
        async with make_runtime(surface, data).running() as rt:
            await create_tenant(rt.store, rt.keys, "acme", "Acme")
            return await issue(rt)

    token = asyncio.run(prepare())
    trace = "0af7651916cd43dd8448eb211c80319c"
    agent = {"Authorization": f"Bearer {token}", "traceparent": f"00-{trace}-b7ad6b7169203331-01", "Cookie": "session=agent"}
    with serve_in_thread(create_app(make_runtime(surface, data)), free_port()) as base, httpx.Client(base_url=base) as http:
        ok = http.post("/v1/actions/petstore.get_pet", json={"pet_id": "p_1"}, headers=agent)
        assert ok.status_code == 200, ok.text
        assert ok.json()["result"]["name"] == "Rex"
        missing = http.post("/v1/actions/petstore.get_pet", json={"pet_id": "p_0"}, headers=agent)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        problem = missing.json()
        assert problem["type"].endswith("/upstream-not-found") and problem["upstream_status"] == 404
        bad = http.post("/v1/actions/petstore.get_pet", json={"pet_id": "p_1", "extra": 1}, headers=agent)
        assert bad.status_code == 422 and bad.json()["type"].endswith("/invalid-input")

        made = http.post("/v1/actions/petstore.create_pet", json={"name": "Kit"}, headers={**agent, "Idempotency-Key": new_key()})
        assert made.status_code == 200, made.text
        reverted = http.post(f"/v1/calls/{made.json()['call_id']}/revert", json={"reason": "made by mistake"}, headers=agent)
        assert reverted.status_code == 200, reverted.text
        assert reverted.json()["action"] == "petstore.create_pet.revert" and reverted.json()["result"] == {"status": 204}
        listing = {a["name"]: a for a in http.get("/v1/actions", headers=agent).json()["actions"]}
        assert listing["petstore.create_pet"]["reversible"] == {"action": "petstore.create_pet.revert"}

    assert [(h.method, h.path) for h in rec.hits] == [
        ("GET", "/pets/p_1"),
        ("GET", "/pets/p_0"),
        ("POST", "/pets"),
        ("DELETE", "/pets/p_2"),
    ]
    for hit in rec.hits:
        assert hit.headers["x-api-key"] == API_KEY and hit.headers["traceparent"].split("-")[1] == trace
        assert "authorization" not in hit.headers and "cookie" not in hit.headers
        assert not any(token in value for value in hit.headers.values())


async def test_the_proxy_config_file_makes_a_gateway_serve_the_upstream(
    tmp_path: Path, rec: Recorder, upstream_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CHAMBERLAIN_PROXY_CONFIG``: the spec's operations are served beside the business's
    own actions, with credentials taken from the environment at start."""
    (tmp_path / "petstore.json").write_bytes(orjson.dumps(FASTAPI_SPEC))
    config = tmp_path / "proxy.toml"
    config.write_text(
        f'[[openapi]]\nname = "petstore"\nspec = "petstore.json"\nbase_url = "{upstream_base}"\n'
        'include = ["GET /pets/*"]\nheaders = { X-Api-Key = "${PETSTORE_KEY}" }\nretries = 0\n'
    )
    monkeypatch.setenv("PETSTORE_KEY", API_KEY)
    rt = make_runtime(Surface("business"), tmp_path / "data", proxy_config=config)
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        token = await issue(rt)
        names = {a.name for a in rt.surface if a.name.startswith("petstore.")}
        assert names and all(rt.surface.get(n).risk == "read" for n in names)  # type: ignore[union-attr]
        (get_pet,) = [n for n in names if "get" in n]
        outcome = await run(rt, token, get_pet, {"pet_id": "p_1"})
        assert outcome.error is None, outcome.error
    (hit,) = rec.hits
    assert hit.headers.get("x-api-key") == API_KEY and "authorization" not in hit.headers


def test_the_cli_shows_the_actions_and_records_the_upstream_with_references_not_secrets(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from chamberlain.cli import main
    from chamberlain.proxy import load_proxy_config

    config = tmp_path / "proxy.toml"
    args = ["proxy", "openapi", str(YAML), "--base-url", "https://pets.internal", "--name", "petstore"]
    shown = CliRunner().invoke(
        main, [*args, "--risk", "createRefund=money", "--header", "X-Api-Key=${PETS_KEY}", "--config", str(config)]
    )
    assert shown.exit_code == 0, shown.output
    assert "petstore.create_refund" in shown.output and "money" in shown.output
    (entry,) = load_proxy_config(config, {"PETS_KEY": "k"}).openapi
    assert entry.headers == {"X-Api-Key": "k"} and entry.risk == {"createRefund": "money"} and "${PETS_KEY}" in config.read_text()
    literal = CliRunner().invoke(main, [*args, "--header", "X-Api-Key=plaintext-secret", "--config", str(config)])
    assert literal.exit_code != 0 and "plaintext-secret" not in config.read_text()
