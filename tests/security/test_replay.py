"""Replays: a retried request may return what already happened, never make it happen again
or happen differently.

* the same idempotency key with other arguments is refused (the IETF draft's 422);
* the same key with the same arguments is a replay of the stored answer, recorded as one,
  and the effect happened once;
* a single-use grant works once;
* an approval, once it ran, decides nothing more;
* a grant revoked after it was used is refused, even for a request that replays a key it
  used before.
"""

from __future__ import annotations

import httpx

from tests.security.conftest import ACME, Gate, bearer, refused

ORDER = "o_1004"


def refund(amount: int, reason: str = "replay test") -> dict[str, object]:
    return {"order_id": ORDER, "amount": {"amount_minor": amount, "currency": "EUR"}, "reason": reason}


def refunded(http: httpx.Client, token: str) -> int:
    order = http.post("/v1/actions/orders.get", json={"order_id": ORDER}, headers=bearer(token)).json()["result"]
    return int(order["refunded"]["amount_minor"])


def test_an_idempotency_key_with_other_arguments_is_refused(gate: Gate, http: httpx.Client) -> None:
    token = gate.issue(ACME, ["orders.*"], principal="agent:replayer")
    before = refunded(http, token)
    key = {"Idempotency-Key": "replay-key-1"}
    first = http.post("/v1/actions/orders.refund", json=refund(100), headers=bearer(token, **key))
    assert first.status_code == 200, first.text

    again = http.post("/v1/actions/orders.refund", json=refund(100), headers=bearer(token, **key))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["call_id"] == first.json()["call_id"]

    changed = http.post("/v1/actions/orders.refund", json=refund(5_000), headers=bearer(token, **key))
    body = refused(gate, changed, 422, "idempotency-key-reused", ACME)
    assert body["first_call_id"] == first.json()["call_id"]
    assert refunded(http, token) == before + 100  # one refund, of the first amount


def test_a_single_use_grant_works_once(gate: Gate, http: httpx.Client) -> None:
    once = gate.issue_grant(ACME, ["orders.get"], max_uses=1)
    assert http.post("/v1/actions/orders.get", json={"order_id": ORDER}, headers=bearer(once.token)).status_code == 200
    for _ in range(2):
        again = http.post("/v1/actions/orders.get", json={"order_id": ORDER}, headers=bearer(once.token))
        refused(gate, again, 401, "grant-used-up", ACME)


def test_an_approval_that_ran_decides_nothing_more(gate: Gate, http: httpx.Client) -> None:
    agent = gate.issue(ACME, ["accounts.*"], principal="agent:replay-approvals", on_behalf_of="user:ops-lead")
    parked = http.post(
        "/v1/actions/accounts.update_email", json={"customer_id": "c_2", "email": "grace@example.com"}, headers=bearer(agent)
    )
    assert parked.status_code == 202, parked.text
    approval = parked.json()["approval"]["id"]
    rita = bearer(gate.issue(ACME, ["calls.read"], principal="human:rita"))
    approved = http.post(f"/v1/approvals/{approval}/approve", json={"reason": "checked"}, headers=rita)
    assert approved.status_code == 200 and approved.json()["status"] == "executed", approved.text

    gate.inspect.run(lambda rt: rt.roles.add(ACME, "human:sam", "approver"))
    sam = bearer(gate.issue(ACME, ["calls.read"], principal="human:sam"))
    for who in (rita, sam):
        for verb in ("approve", "reject"):
            again = http.post(f"/v1/approvals/{approval}/{verb}", json={"reason": "again"}, headers=who)
            refused(gate, again, 409, "approval-closed", ACME)
    record = http.get(f"/v1/calls/{parked.json()['call_id']}", headers=bearer(agent)).json()
    assert record["approval"]["status"] == "executed"
    assert [s["step"] for s in record["approval"]["steps"]] == ["requested", "approved", "executed"]


def test_a_revoked_grant_cannot_replay_what_it_did_before(gate: Gate, http: httpx.Client) -> None:
    issued = gate.issue_grant(ACME, ["orders.*"])
    key = bearer(issued.token, **{"Idempotency-Key": "replay-after-revocation"})
    before = refunded(http, gate.grants[ACME])
    first = http.post("/v1/actions/orders.refund", json=refund(200), headers=key)
    assert first.status_code == 200, first.text
    gate.inspect.run(lambda rt: rt.authority.revoke(ACME, issued.id, "stolen"))
    replayed = http.post("/v1/actions/orders.refund", json=refund(200), headers=key)
    refused(gate, replayed, 401, "grant-revoked", ACME)
    assert "Idempotent-Replayed" not in replayed.headers
    assert refunded(http, gate.grants[ACME]) == before + 200
