"""Approval by the requester itself, or by someone who is not an approver.

A parked call runs only when principals holding the ``approver`` role, none of them in the
requesting call's chain, approve it. The attacks: the agent approves its own call; a
principal without the role approves; and the requester *claims* to be an approver, by
naming one as the sub-agent of an attenuated grant (offline, or through the OAuth token
exchange's ``actor``), or by having a grant issued for an approver on its own behalf.
Each is refused and recorded in the tenant's log, and the call stays parked.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from chamberlain.grants import attenuate
from tests.security.conftest import ACME, Gate, bearer, console, csrf, refused
from tests.security.test_grants import public_key

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


def park(gate: Gate, http: httpx.Client, token: str, email: str) -> dict[str, str]:
    """An account change by ``token``'s holder, parked for a human."""
    resp = http.post("/v1/actions/accounts.update_email", json={"customer_id": "c_3", "email": email}, headers=bearer(token))
    assert resp.status_code == 202, resp.text
    return {"call": resp.json()["call_id"], "approval": resp.json()["approval"]["id"]}


def approve(http: httpx.Client, approval: str, token: str) -> httpx.Response:
    return http.post(f"/v1/approvals/{approval}/approve", json={"reason": "looks right to me"}, headers=bearer(token))


def still_parked(gate: Gate, approval: str) -> None:
    view = gate.inspect.run(lambda rt: rt.approvals.show(ACME, approval))
    assert view["status"] == "pending" and view["approvals_given"] == 0, view


@pytest.fixture(scope="module")
def agent(gate: Gate) -> str:
    return gate.issue(ACME, ["accounts.*", "calls.read"], principal="agent:eager", on_behalf_of="user:ops-lead")


def test_the_requesting_agent_cannot_approve_its_own_call(gate: Gate, http: httpx.Client, agent: str) -> None:
    parked = park(gate, http, agent, "self@example.com")
    refused(gate, approve(http, parked["approval"], agent), 403, "approver-required", ACME)
    # Even holding the approver role, the requester (or whom it acts for) cannot decide it.
    gate.inspect.run(lambda rt: rt.roles.add(ACME, "agent:eager", "approver"))
    try:
        refused(gate, approve(http, parked["approval"], agent), 403, "approver-in-chain", ACME)
        for_ops = gate.issue(ACME, ["calls.read"], principal="user:ops-lead")
        gate.inspect.run(lambda rt: rt.roles.add(ACME, "user:ops-lead", "approver"))
        refused(gate, approve(http, parked["approval"], for_ops), 403, "approver-in-chain", ACME)
    finally:
        gate.inspect.run(lambda rt: rt.roles.remove(ACME, "agent:eager", "approver"))
        gate.inspect.run(lambda rt: rt.roles.remove(ACME, "user:ops-lead", "approver"))
    still_parked(gate, parked["approval"])


def test_a_principal_without_the_approver_role_cannot_approve(gate: Gate, http: httpx.Client, agent: str) -> None:
    parked = park(gate, http, agent, "outsider@example.com")
    mallory = gate.issue(ACME, ["*"], principal="human:mallory")  # every action, but not the role
    refused(gate, approve(http, parked["approval"], mallory), 403, "approver-required", ACME)
    refused(gate, http.get("/v1/approvals", headers=bearer(mallory)), 403, "approver-required", ACME)
    still_parked(gate, parked["approval"])


def test_naming_an_approver_as_a_sub_agent_does_not_make_one(gate: Gate, http: httpx.Client, agent: str) -> None:
    """``delegated_to("human:rita")`` is the agent's own word: it is not rita's approval."""
    parked = park(gate, http, agent, "impostor@example.com")
    posing = attenuate(agent, public_key(http, ACME, agent), delegate_to="human:rita")
    assert http.get("/v1/calls?limit=1", headers=bearer(posing)).status_code == 200  # a working grant...
    body = refused(gate, approve(http, parked["approval"], posing), 403, "approver-required", ACME)
    assert "attenuation block" in body["detail"]  # ...that is no approver's
    refused(gate, http.get("/v1/approvals", headers=bearer(posing)), 403, "approver-required", ACME)
    still_parked(gate, parked["approval"])


def test_the_oauth_actor_does_not_make_an_approver_either(gate: Gate, http: httpx.Client, agent: str) -> None:
    parked = park(gate, http, agent, "actor@example.com")
    form = {"grant_type": EXCHANGE, "subject_token": agent, "subject_token_type": ACCESS_TOKEN, "actor": "human:rita"}
    exchanged = http.post("/oauth/token", data=form)
    assert exchanged.status_code == 200, exchanged.text
    refused(gate, approve(http, parked["approval"], exchanged.json()["access_token"]), 403, "approver-required", ACME)
    still_parked(gate, parked["approval"])


def test_an_approvers_grant_issued_on_the_requesters_behalf_cannot_approve(gate: Gate, http: httpx.Client, agent: str) -> None:
    """A grant naming rita but issued on behalf of the requesting agent (what an agent holding
    ``grants.issue`` could mint) acts for the requester: its chain meets the request's."""
    parked = park(gate, http, agent, "minted@example.com")
    minted = gate.inspect.run(
        lambda rt: rt.authority.issue(ACME, "human:rita", ["calls.read"], timedelta(hours=1), on_behalf_of="agent:eager")
    )
    refused(gate, approve(http, parked["approval"], minted.token), 403, "approver-in-chain", ACME)
    still_parked(gate, parked["approval"])


def test_the_approver_herself_approves_once_in_the_console(gate: Gate, http: httpx.Client, agent: str) -> None:
    """The legitimate path still works: rita, logged in, approves; the call runs once."""
    parked = park(gate, http, agent, "ada.new@example.com")
    with console(gate, ACME, "rita") as rita:
        token = csrf(rita.get("/console/approvals"))
        form = {"decision": "approve", "reason": "asked by the customer", "csrf": token}
        decided = rita.post(f"/console/approvals/{parked['approval']}/decide", data=form, headers={"Origin": gate.base})
        assert decided.status_code == 303, decided.text[:300]
        again = rita.post(f"/console/approvals/{parked['approval']}/decide", data=form, headers={"Origin": gate.base})
        assert again.status_code == 409
    view = gate.inspect.run(lambda rt: rt.approvals.show(ACME, parked["approval"]))
    assert view["status"] == "executed" and [s["by"] for s in view["steps"] if s["step"] == "approved"] == ["human:rita"]
