"""Forged grants, and attenuation that tries to widen what a grant allows.

A grant is a Biscuit token: the gateway verifies its signature chain against the tenant key
it names, that the tenant it claims is that key's, its audience, start and expiry, and
(in the database, on every call) that it was not revoked. Attenuation (offline, by the
holder, or through the OAuth token exchange) appends blocks of checks: it can only take
rights away. Refusals whose grant verified are recorded in its tenant's log; those whose
tenant cannot be established (a forged signature) only in the call records, since
writing an unverified claim into a tenant's log would let anyone fill it.
"""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import biscuit_auth as biscuit
import httpx
import pytest

from chamberlain.grants import GrantAuthority, attenuate, public_key_from_hex
from chamberlain.timeutil import utc_now
from tests.security.conftest import ACME, FLOOD, GLOBEX, Gate, bearer, refused

ORDER = {"order_id": "o_1002"}


def public_key(http: httpx.Client, tenant: str, token: str) -> str:
    """The tenant's public key that signed ``token``, as an agent gets it (no secret needed)."""
    kid = biscuit.UnverifiedBiscuit.from_base64(token).root_key_id()
    keys = http.get(f"/v1/tenants/{tenant}/keys").json()["keys"]
    return str(next(k["public_key"] for k in keys if k["kid"] == kid))


def call(http: httpx.Client, token: str, action: str = "orders.get", body: object = ORDER, **headers: str) -> httpx.Response:
    return http.post(f"/v1/actions/{action}", json=body, headers=bearer(token, **headers))


def kid_of(token: str) -> int:
    kid = biscuit.UnverifiedBiscuit.from_base64(token).root_key_id()
    assert kid is not None
    return int(kid)


def everything_of(tenant: str, expires: object) -> biscuit.BiscuitBuilder:
    """An authority block as the gateway writes it, granting every action of ``tenant``."""
    return biscuit.BiscuitBuilder(
        'tenant({t}); principal("agent:mallory"); grant_id("g_000000000000000000000000"); for_audience("chamberlain");'
        'check if audience("chamberlain"); check if time($time), $time < {e}; right_prefix(""); expires({e});',
        {"t": tenant, "e": expires},
    )


# --- forged -------------------------------------------------------------------------------


def test_a_grant_signed_with_a_key_the_gateway_does_not_hold_is_refused(gate: Gate, http: httpx.Client) -> None:
    later = utc_now() + timedelta(hours=1)
    for kid in (kid_of(gate.grants[ACME]), 999_999):  # acme's key id, and one nobody has
        builder = everything_of(ACME, later)
        builder.set_root_key_id(kid)
        forged = builder.build(biscuit.KeyPair().private_key).to_base64()
        refused(gate, call(http, forged), 401, "grant-invalid", None)


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.95])
def test_a_grant_with_changed_bytes_is_refused(gate: Gate, http: httpx.Client, where: float) -> None:
    token = gate.grants[ACME]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[int(len(raw) * where)] ^= 0x20
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    resp = call(http, tampered)
    code = resp.json()["code"]  # the signature (grant-invalid) or the encoding (grant-malformed) breaks
    assert code in ("grant-invalid", "grant-malformed"), code
    refused(gate, resp, 401, code, None)


def test_a_renamed_tenant_inside_a_genuine_grant_is_refused(gate: Gate, http: httpx.Client) -> None:
    """acme's genuine grant with its tenant fact rewritten to globex (same length): the
    signature no longer verifies."""
    token = gate.grants[ACME]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw.count(ACME.encode()) == 1
    renamed = base64.urlsafe_b64encode(raw.replace(ACME.encode(), b"globex-st")).decode()
    refused(gate, call(http, renamed), 401, "grant-invalid", None)


def test_a_grant_signed_by_another_tenants_key_is_refused(gate: Gate, http: httpx.Client) -> None:
    """globex's own key signing a grant that claims acme: the key is genuine, the claim is not."""
    kid, private_key = gate.inspect.run(lambda rt: rt.keys.signing(GLOBEX))
    builder = everything_of(ACME, utc_now() + timedelta(hours=1))
    builder.set_root_key_id(kid)
    forged = builder.build(private_key).to_base64()
    refused(gate, call(http, forged), 401, "grant-wrong-tenant", None)
    refused(gate, http.get("/v1/calls", headers=bearer(forged)), 401, "grant-wrong-tenant", None)


def test_a_grant_for_another_gateway_is_refused(gate: Gate, http: httpx.Client) -> None:
    elsewhere = gate.inspect.run(
        lambda rt: GrantAuthority(rt.store, rt.keys, "another-gateway").issue(ACME, "agent:x", ["*"], timedelta(hours=1))
    )
    refused(gate, call(http, elsewhere.token), 401, "grant-wrong-audience", ACME)


def test_a_grant_before_its_start_is_refused(gate: Gate, http: httpx.Client) -> None:
    early = gate.issue_grant(ACME, ["orders.get"], not_before=utc_now() + timedelta(hours=1))
    refused(gate, call(http, early.token), 401, "grant-not-yet-valid", ACME)


def test_an_expired_grant_is_refused_and_attenuation_cannot_extend_it(gate: Gate, http: httpx.Client) -> None:
    short = gate.issue_grant(ACME, ["orders.get"], ttl=timedelta(seconds=1))
    longer = attenuate(short.token, public_key(http, ACME, short.token), ttl=timedelta(days=30))
    extended = biscuit.Biscuit.from_base64(short.token, public_key_from_hex(public_key(http, ACME, short.token)))
    later = (utc_now() + timedelta(days=30)).replace(microsecond=0)
    # A block that states a later expiry outright, without the check the helper adds.
    restated = extended.append(biscuit.BlockBuilder("expires({e});", {"e": later})).to_base64()
    while utc_now() < short.expires_at:  # the grant's own end, not a guess at how long a call takes
        time.sleep(0.05)
    for token in (short.token, longer, restated):
        body = refused(gate, call(http, token), 401, "grant-expired", ACME)
        assert body["grant_id"] == short.id


def test_a_revoked_grant_and_what_was_derived_from_it_are_refused(gate: Gate, http: httpx.Client) -> None:
    issued = gate.issue_grant(ACME, ["orders.*"])
    child = attenuate(issued.token, public_key(http, ACME, issued.token), actions=["orders.get"], delegate_to="agent:helper")
    assert call(http, issued.token).status_code == 200 and call(http, child).status_code == 200
    gate.inspect.run(lambda rt: rt.authority.revoke(ACME, issued.id, "leaked in a log"))
    for token in (issued.token, child):
        refused(gate, call(http, token), 401, "grant-revoked", ACME)
        refused(gate, http.get("/v1/actions", headers=bearer(token)), 401, "grant-revoked", ACME)


# --- attenuation that tries to widen --------------------------------------------------------


def test_attenuation_cannot_add_actions(gate: Gate, http: httpx.Client) -> None:
    reader = gate.issue(ACME, ["orders.get"])
    key = public_key(http, ACME, reader)
    for wider, still in ((["*"], ["orders.get"]), (["orders.*", "customers.*"], ["orders.get"]), (["customers.export"], [])):
        token = attenuate(reader, key, actions=wider)
        body = refused(gate, call(http, token, "customers.export", {}), 403, "permission-denied", ACME)
        assert body["allowed_actions"] == ["orders.get"]  # what the grant's authority block holds, no more
        listed = http.get("/v1/actions", headers=bearer(token)).json()["actions"]
        assert [a["name"] for a in listed] == still  # the intersection: asking for more only narrowed it


def test_a_block_that_states_rights_is_refused_outright(gate: Gate, http: httpx.Client) -> None:
    reader = gate.issue_grant(ACME, ["orders.get"])
    parent = biscuit.Biscuit.from_base64(reader.token, public_key_from_hex(public_key(http, ACME, reader.token)))
    for facts in ('right("customers.export");', 'right_prefix("");', 'tenant("globex-store"); right_prefix("");'):
        widened = parent.append(biscuit.BlockBuilder(facts)).to_base64()
        body = refused(gate, call(http, widened, "customers.export", {}), 401, "grant-widened", ACME)
        assert gate.record(body["call_id"], ACME)["grant_id"] == reader.id  # the grant whose holder tried


def test_attenuation_cannot_raise_a_cap(gate: Gate, http: httpx.Client) -> None:
    small = gate.issue_grant(ACME, ["orders.refund"], constraints=["orders.refund: amount.amount_minor <= 500"])
    raised = attenuate(
        small.token, public_key(http, ACME, small.token), constraints=["orders.refund: amount.amount_minor <= 100000"]
    )
    refund = {"order_id": "o_1003", "amount": {"amount_minor": 900, "currency": "EUR"}, "reason": "cap test"}
    for n, token in enumerate((small.token, raised)):
        resp = call(http, token, "orders.refund", refund, **{"Idempotency-Key": f"cap-{n}"})
        body = refused(gate, resp, 403, "constraint-violated", ACME)
        assert "orders.refund: amount.amount_minor <= 500" in body["constraints"]


def test_the_oauth_token_exchange_cannot_widen(gate: Gate, http: httpx.Client) -> None:
    reader = gate.issue(ACME, ["orders.get"])
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": reader,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "scope": "orders.get customers.export",
    }
    exchanged = http.post("/oauth/token", data=form)
    assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["access_token"]
    refused(gate, call(http, token, "customers.export", {}), 403, "permission-denied", ACME)


def test_sub_agents_share_their_grants_rate_limit(gate: Gate, http: httpx.Client) -> None:
    """An attenuation block names a sub-agent by whatever name its holder writes: a fresh
    name must not be a fresh allowance (refunds are limited to 3 a minute in FLOOD)."""
    flooder = gate.issue(FLOOD, ["orders.refund"], principal="agent:flooder")
    key = public_key(http, FLOOD, flooder)
    # Counted before the arguments are read, so even refused calls spend the allowance.
    spent = [call(http, flooder, "orders.refund", {}).status_code for _ in range(3)]
    assert spent == [422, 422, 422]
    refused(gate, call(http, flooder, "orders.refund", {}), 429, "rate-limited", FLOOD)
    for n in range(3):
        sub_agent = attenuate(flooder, key, delegate_to=f"agent:fresh-name-{n}")
        body = refused(gate, call(http, sub_agent, "orders.refund", {}), 429, "rate-limited", FLOOD)
        assert gate.record(body["call_id"], FLOOD)["principal"] == f"agent:fresh-name-{n}"


def test_a_sub_agents_name_does_not_make_another_agents_calls_its_own(gate: Gate, http: httpx.Client) -> None:
    """An agent may revert its own calls; naming another agent as its sub-agent must not
    make that agent's calls its own."""
    victim = gate.issue(ACME, ["orders.*"], principal="agent:victim")
    made = {"order_id": "o_1005", "amount": {"amount_minor": 300, "currency": "EUR"}, "reason": "goodwill"}
    done = call(http, victim, "orders.refund", made, **{"Idempotency-Key": "victim-refund"})
    assert done.status_code == 200, done.text
    target = done.json()["call_id"]
    attacker = gate.issue(ACME, ["orders.*"], principal="agent:attacker")
    posing = attenuate(attacker, public_key(http, ACME, attacker), delegate_to="agent:victim")
    for token in (attacker, posing):
        resp = http.post(f"/v1/calls/{target}/revert", json={"reason": "mine"}, headers=bearer(token))
        body = refused(gate, resp, 403, "permission-denied", ACME)
        assert "calls.revert" in body["detail"]
    assert gate.record(target, ACME)["outcome"] == "ok"
    record = http.get(f"/v1/calls/{target}", headers=bearer(victim)).json()
    assert record["revert"]["reverted_by"] is None
