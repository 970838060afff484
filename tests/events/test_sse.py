"""``GET /v1/events`` on a real server: resume, isolation, filters, heartbeats, revocation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import update

from chamberlain.demo import shop
from chamberlain.store import events as events_table
from chamberlain.store import tenant_transaction
from tests.conftest import new_key
from tests.events.conftest import ACME, GLOBEX, Server, refund
from tests.events.sse import Message, events, messages, until
from tests.surfaces.rest.test_rest import assert_problem, bearer


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=10) as c:
        yield c


@contextmanager
def stream(client: httpx.Client, token: str, **params: str) -> Iterator[Iterator[Message]]:
    headers = bearer(token)
    if "last_event_id" in params:
        headers["Last-Event-ID"] = params.pop("last_event_id")
    with client.stream("GET", "/v1/events", params=params, headers=headers) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        yield messages(resp)


def test_a_committed_change_reaches_a_live_stream_as_a_cloudevent(client: httpx.Client, server: Server) -> None:
    token = server.grants[ACME]
    with stream(client, token, types="order.refunded") as sse:
        until(sse, "live")
        call_id = refund(client, token)
        (message,) = events(sse, 1)
    event = message.json
    assert message.event == "order.refunded" and message.id == str(event["sequence"])
    assert event["specversion"] == "1.0" and event["type"] == "order.refunded" and event["tenant"] == ACME
    assert event["subject"] == "orders/o_1006" and event["callid"] == call_id
    assert event["data"]["amount"] == {"amount_minor": 1, "currency": "EUR"}
    assert len(event["traceparent"].split("-")) == 4


def test_resume_after_a_disconnect_gets_every_missed_event_once(client: httpx.Client, server: Server) -> None:
    token = server.grants[ACME]
    with stream(client, token, types="order.*") as sse:
        until(sse, "live")
        refund(client, token)
        (seen,) = events(sse, 1)
    missed = [refund(client, token) for _ in range(3)]
    with stream(client, token, types="order.*", last_event_id=str(seen.id)) as sse:
        replayed = until(sse, "live")
        later = refund(client, token)
        (live,) = events(sse, 1)
    assert [m.json["callid"] for m in replayed] == missed
    assert [int(m.id or 0) for m in replayed] == sorted({int(m.id or 0) for m in replayed})
    assert int(replayed[0].id or 0) > int(seen.id or 0)
    assert live.json["callid"] == later

    with stream(client, token, types="order.*", after=str(seen.id)) as sse:
        assert [m.json["callid"] for m in until(sse, "live")] == [*missed, later]


def test_tenants_never_see_each_others_events(client: httpx.Client, server: Server) -> None:
    acme, globex = server.grants[ACME], server.grants[GLOBEX]
    with stream(client, globex) as theirs:
        until(theirs, "live")
        refund(client, acme)
        body = {"order_id": "o_1006", "amount": {"amount_minor": 1, "currency": "USD"}, "reason": "test"}
        keyed = {**bearer(globex), "Idempotency-Key": new_key()}
        assert client.post("/v1/actions/orders.refund", json=body, headers=keyed).status_code == 200
        (first,) = events(theirs, 1)
    assert first.json["tenant"] == GLOBEX and first.json["source"] == f"/tenants/{GLOBEX}"
    assert first.json["data"]["amount"]["currency"] == "USD"


def test_a_grant_sees_only_the_event_types_it_covers(client: httpx.Client, server: Server) -> None:
    narrow = server.issue(ACME, ["orders.*", "events.order.refunded"])
    listed = client.get("/v1/events/types", headers=bearer(narrow)).json()
    assert listed == {"tenant": ACME, "types": {"order.refunded": shop.events["order.refunded"]}}
    wide = client.get("/v1/events/types", headers=bearer(server.grants[ACME])).json()["types"]
    assert {"order.refunded", "approval.requested", "grant.revoked", "policy.changed"} <= set(wide)

    denied = assert_problem(
        client.get("/v1/events", params={"types": "policy.changed"}, headers=bearer(narrow)), 403, "permission-denied"
    )
    assert denied["allowed_types"] == ["order.refunded"]
    record = client.get(f"/v1/calls/{denied['call_id']}", headers=bearer(narrow)).json()
    assert record["action"] == "events" and record["decision"] == "refused", "the refusal is recorded and audited"
    assert record["audit_entries"], record
    no_events = server.issue(ACME, ["orders.*"])
    assert_problem(client.get("/v1/events", headers=bearer(no_events)), 403, "permission-denied")
    assert_problem(client.get("/v1/events"), 401, "grant-missing")

    with stream(client, narrow) as sse:  # no filter: everything the grant covers, and only that
        until(sse, "live")
        client.put("/v1/policies", json={}, headers=bearer(server.grants[ACME]))
        refund(client, server.grants[ACME])
        (only,) = events(sse, 1)
    assert only.event == "order.refunded"


def test_subject_filters(client: httpx.Client, server: Server) -> None:
    token = server.grants[ACME]
    with stream(client, token, subject="orders/o_1005") as exact, stream(client, token, subject="orders/*") as prefix:
        until(exact, "live")
        until(prefix, "live")
        refund(client, token, "o_1006")
        refund(client, token, "o_1005")
        (one,) = events(exact, 1)
        both = events(prefix, 2)
    assert one.json["subject"] == "orders/o_1005"
    assert [m.json["subject"] for m in both] == ["orders/o_1006", "orders/o_1005"]


def test_bad_filters_and_resume_points_are_problems(client: httpx.Client, server: Server) -> None:
    token = bearer(server.grants[ACME])
    unknown = assert_problem(
        client.get("/v1/events", params={"types": "order.refunded,order.vanished"}, headers=token), 422, "unknown-event-type"
    )
    assert unknown["types"] == ["order.vanished"]
    assert_problem(client.get("/v1/events", params={"types": "nothing.*"}, headers=token), 422, "unknown-event-type")
    for bad in ("abc", "-1", "1.5", "9" * 40, "\u00b2"):  # "²" passes str.isdigit() but not int(): it was a 500
        resp = client.get("/v1/events", headers={**token, "Last-Event-ID": bad.encode("latin-1")})
        assert assert_problem(resp, 400, "bad-request")["parameter"] == "Last-Event-ID"
    assert_problem(client.get("/v1/events", params={"after": "\u00b9"}, headers=token), 400, "bad-request")


def test_resuming_from_before_the_retention_window_is_gone(client: httpx.Client, server: Server) -> None:
    token = server.grants[GLOBEX]
    body = {"order_id": "o_1005", "amount": {"amount_minor": 1, "currency": "USD"}, "reason": "test"}
    for _ in range(3):
        keyed = {**bearer(token), "Idempotency-Key": new_key()}
        assert client.post("/v1/actions/orders.refund", json=body, headers=keyed).status_code == 200

    async def prune(rt) -> int:  # type: ignore[no-untyped-def]
        async with tenant_transaction(rt.store, GLOBEX) as tx:
            await tx.execute(update(events_table).values(time="2000-01-01T00:00:00.000000+00:00"))
        await rt.events.prune(60)
        return int(await rt.events.oldest(GLOBEX))

    oldest = server.on_runtime(prune)
    gone = assert_problem(client.get("/v1/events", headers={**bearer(token), "Last-Event-ID": "1"}), 410, "events-gone")
    assert gone["oldest"] == oldest
    with stream(client, token, last_event_id=str(oldest - 1)) as sse:
        assert [int(m.id or 0) for m in until(sse, "live")] == [oldest]


def test_heartbeats_keep_an_idle_stream_and_a_revoked_grant_ends_it(client: httpx.Client, server: Server) -> None:
    token = server.issue(ACME, ["events.*"])
    with stream(client, token) as sse:
        until(sse, "live")
        until(sse, "heartbeat")

        async def revoke(rt) -> None:  # type: ignore[no-untyped-def]
            grant = await rt.authority.verify(token)
            await rt.authority.revoke(ACME, grant.id, "test")

        server.on_runtime(revoke)
        # The grant.revoked event comes first if the stream hears of it before its next
        # heartbeat re-checks the grant (this revocation is another process's commit).
        *told, ended = [m for m in sse if m.comment is None]
        assert [m.event for m in told] in ([], ["grant.revoked"])
        assert ended.event == "error" and ended.json["type"].endswith("/grant-revoked"), "and the server closes it"
