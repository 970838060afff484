"""``POST /v1/calls/{id}/revert`` on a real server: the answers and problems an agent sees."""

from __future__ import annotations

import httpx

from tests.conftest import DemoServer, new_key
from tests.surfaces.rest.test_rest import ACME, GLOBEX, assert_problem, bearer


def test_revert_over_rest(client: httpx.Client, demo_server: DemoServer) -> None:
    auth = bearer(demo_server.grants[ACME])
    refund = {"order_id": "o_1003", "amount": {"amount_minor": 700, "currency": "EUR"}, "reason": "wrong size"}
    done = client.post("/v1/actions/orders.refund", json=refund, headers={**auth, "Idempotency-Key": new_key()})
    assert done.status_code == 200, done.text
    call_id = done.json()["call_id"]
    assert client.get(f"/v1/calls/{call_id}", headers=auth).json()["revert"]["reverted_by"] is None

    assert_problem(client.post(f"/v1/calls/{call_id}/revert", headers=auth, content=b"[1]"), 422, "invalid-input")
    reverted = client.post(f"/v1/calls/{call_id}/revert", json={"reason": "refunded by mistake"}, headers=auth)
    assert reverted.status_code == 200, reverted.text
    body = reverted.json()
    assert body["action"] == "orders.refund.revert" and body["result"]["amount"]["amount_minor"] == 700
    assert client.get(f"/v1/calls/{call_id}", headers=auth).json()["revert"]["reverted_by"] == body["call_id"]
    assert client.get(f"/v1/calls/{body['call_id']}", headers=auth).json()["revert_of"] == call_id

    again = assert_problem(client.post(f"/v1/calls/{call_id}/revert", headers=auth), 409, "already-reverted")
    assert again["reverted_by"] == body["call_id"]
    assert_problem(client.post("/v1/calls/call_nope/revert", headers=auth), 404, "call-not-found")
    other = bearer(demo_server.grants[GLOBEX])
    assert_problem(client.post(f"/v1/calls/{call_id}/revert", headers=other), 404, "call-not-found")

    read = client.post("/v1/actions/orders.get", json={"order_id": "o_1003"}, headers=auth).json()["call_id"]
    final = assert_problem(client.post(f"/v1/calls/{read}/revert", headers=auth), 409, "not-reversible")
    assert "orders.get declares no undo" in final["detail"]


def test_actions_say_whether_they_can_be_reverted(client: httpx.Client, demo_server: DemoServer) -> None:
    actions = {a["name"]: a for a in client.get("/v1/actions", headers=bearer(demo_server.grants[ACME])).json()["actions"]}
    assert actions["orders.refund"]["reversible"]["action"] == "orders.refund.revert"
    assert actions["orders.get"]["reversible"] is False
    assert actions["orders.refund.revert"]["reverts"] == "orders.refund"
    assert actions["orders.refund"]["approval"]["required"] == "sometimes"
    assert actions["orders.get"]["approval"] == {"required": "never"}

    paths = client.get("/openapi.json").json()["paths"]
    refund = paths["/v1/actions/orders.refund"]["post"]
    assert refund["x-chamberlain-reversible"] == {"action": "orders.refund.revert", "window_s": 30 * 86400}
    assert refund["x-chamberlain-approval"]["required"] == "sometimes"
    assert paths["/v1/actions/customers.export"]["post"]["x-chamberlain-approval"]["required"] == "always"
    assert paths["/v1/actions/accounts.update_email"]["post"]["x-chamberlain-reversible"] is False
    assert "409" in paths["/v1/calls/{call_id}/revert"]["post"]["responses"]
