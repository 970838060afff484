"""REST against the demo shop on a real server over loopback."""

from __future__ import annotations

import httpx
import orjson

from chamberlain.config import Settings
from chamberlain.errors import ERROR_BASE_URI
from tests.conftest import DemoServer, new_key

ACME, GLOBEX = "acme-shop", "globex-store"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["type"] == ERROR_BASE_URI + code and body["status"] == status
    assert isinstance(body["detail"], str) and isinstance(body["retryable"], bool)
    return body


def test_call_an_action_and_read_its_record(client: httpx.Client, demo_server: DemoServer) -> None:
    token = demo_server.grants[ACME]
    trace = "0af7651916cd43dd8448eb211c80319c"
    resp = client.post(
        "/v1/actions/orders.get",
        json={"order_id": "o_1003"},
        headers={**bearer(token), "traceparent": f"00-{trace}-b7ad6b7169203331-01"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["action"] == "orders.get" and body["version"] == 1
    assert body["result"]["id"] == "o_1003" and body["result"]["total"]["currency"] == "EUR"
    assert resp.headers["Chamberlain-Call-Id"] == body["call_id"]
    assert resp.headers["Chamberlain-Trace-Id"] == trace

    record = client.get(f"/v1/calls/{body['call_id']}", headers=bearer(token)).json()
    assert record["decision"] == "allowed" and record["outcome"] == "ok" and record["trace_id"] == trace
    assert record["tenant"] == ACME and record["principal"] == "agent:support-bot" and record["on_behalf_of"] == "user:ops-lead"
    assert "execute" in record["timings_ms"]


def test_records_are_isolated_between_tenants(client: httpx.Client, demo_server: DemoServer) -> None:
    call_id = client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(demo_server.grants[ACME])).json()[
        "call_id"
    ]
    assert_problem(client.get(f"/v1/calls/{call_id}", headers=bearer(demo_server.grants[GLOBEX])), 404, "call-not-found")
    globex = client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(demo_server.grants[GLOBEX])).json()
    assert globex["result"]["total"]["currency"] == "USD"


def test_refusals_are_problem_details_with_a_record(client: httpx.Client, demo_server: DemoServer) -> None:
    missing = assert_problem(client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}), 401, "grant-missing")
    assert "call_id" in missing
    resp = client.post("/v1/actions/orders.get", json={}, headers=bearer("garbage"))
    assert_problem(resp, 401, "grant-malformed")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")

    token = demo_server.grants[ACME]
    unknown = assert_problem(client.post("/v1/actions/orders.nope", json={}, headers=bearer(token)), 404, "unknown-action")
    record = client.get(f"/v1/calls/{unknown['call_id']}", headers=bearer(token)).json()
    assert record["decision"] == "refused" and record["error_type"].endswith("unknown-action")

    bad = assert_problem(
        client.post("/v1/actions/orders.get", json={"order_id": 7, "x": 1}, headers=bearer(token)), 422, "invalid-input"
    )
    assert {tuple(e["loc"]) for e in bad["errors"]} == {("order_id",), ("x",)}
    assert_problem(client.post("/v1/actions/orders.get", json=[1], headers=bearer(token)), 422, "invalid-input")

    failed = assert_problem(
        client.post("/v1/actions/orders.get", json={"order_id": "o_404"}, headers=bearer(token)), 422, "action-failed"
    )
    assert failed["reason"] == "order-not-found"

    assert_problem(
        client.post("/v1/actions/orders.get", json={}, headers={**bearer(token), "Chamberlain-Tenant": GLOBEX}),
        401,
        "grant-wrong-tenant",
    )


async def test_permission_denied_for_actions_outside_the_grant(demo_server: DemoServer) -> None:
    reader = await demo_server.issue(ACME, ["orders.get"])
    async with httpx.AsyncClient(base_url=demo_server.base) as c:
        resp = await c.post("/v1/actions/customers.export", json={}, headers=bearer(reader))
        body = assert_problem(resp, 403, "permission-denied")
        assert body["allowed_actions"] == ["orders.get"]
        listed = (await c.get("/v1/actions", headers=bearer(reader))).json()
        assert [a["name"] for a in listed["actions"]] == ["orders.get"]


def test_malformed_json_changes_nothing(client: httpx.Client, demo_server: DemoServer) -> None:
    token = demo_server.grants[ACME]
    before = client.post("/v1/actions/orders.get", json={"order_id": "o_1005"}, headers=bearer(token)).json()["result"]
    resp = client.post(
        "/v1/actions/orders.refund",
        content=b'{"order_id": "o_1005", "amount": {',
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert_problem(resp, 400, "malformed-json")
    after = client.post("/v1/actions/orders.get", json={"order_id": "o_1005"}, headers=bearer(token)).json()["result"]
    assert before == after


def test_oversized_bodies_are_refused(client: httpx.Client, demo_server: DemoServer) -> None:
    token = demo_server.grants[ACME]
    big = b'{"order_id": "' + b"x" * 2_000_000 + b'"}'
    assert_problem(client.post("/v1/actions/orders.get", content=big, headers=bearer(token)), 413, "body-too-large")

    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    # Streamed without Content-Length: the limit is enforced while reading.
    assert_problem(client.post("/v1/actions/orders.get", content=chunks(), headers=bearer(token)), 413, "body-too-large")


def test_action_list_carries_contracts_and_risk(client: httpx.Client, demo_server: DemoServer) -> None:
    body = client.get("/v1/actions", headers=bearer(demo_server.grants[ACME])).json()
    assert body["tenant"] == ACME
    refund = next(a for a in body["actions"] if a["name"] == "orders.refund")
    assert refund["risk"] == "money" and refund["hints"]["destructiveHint"] is True
    assert refund["input_schema"]["properties"]["amount"]["$ref"] == "#/$defs/Money"
    assert refund["output_schema"]["type"] == "object"
    assert_problem(client.get("/v1/actions"), 401, "grant-missing")


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_document_is_complete_and_self_contained(client: httpx.Client) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/openapi.json").json()
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"] == "3.1.0"
    for name in ("orders.refund", "orders.get", "customers.export", "accounts.update_email", "catalog.list_products"):
        op = doc["paths"][f"/v1/actions/{name}"]["post"]
        assert op["operationId"] == name and "x-chamberlain-risk" in op
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref
    assert doc["components"]["securitySchemes"]["grant"]["scheme"] == "bearer"


async def test_account_settings_change_waits_for_an_approver_then_runs_once(demo_server: DemoServer) -> None:
    """The default policies park every account change; an approver's yes runs it, scoped to the tenant."""
    await demo_server.add_approver(ACME, "human:rita")
    approver = bearer(await demo_server.issue(ACME, ["calls.read"], principal="human:rita"))
    acme, globex = bearer(demo_server.grants[ACME]), bearer(demo_server.grants[GLOBEX])
    async with httpx.AsyncClient(base_url=demo_server.base, timeout=10) as client:
        parked = await client.post(
            "/v1/actions/accounts.update_settings", json={"customer_id": "c_3", "marketing_opt_in": True}, headers=acme
        )
        assert parked.status_code == 202, parked.text
        assert parked.headers["Location"] == f"/v1/calls/{parked.json()['call_id']}"
        approval = parked.json()["approval"]
        assert approval["status"] == "pending" and approval["policies"] == ["default-approve-account-changes"]
        asked = {"customer_id": "c_3", "language": None, "marketing_opt_in": True, "two_factor": None}
        assert approval["arguments"] == asked, "what was asked, validated, as it will run"
        still = (await client.post("/v1/actions/accounts.get_settings", json={"customer_id": "c_3"}, headers=acme)).json()
        assert still["result"]["marketing_opt_in"] is False
        assert_problem(
            await client.post(f"/v1/approvals/{approval['id']}/approve", json={"reason": "me"}, headers=acme),
            403,
            "approver-required",
        )
        assert_problem(await client.get(f"/v1/approvals/{approval['id']}", headers=globex), 404, "approval-not-found")
        listed = (await client.get("/v1/approvals?status=pending", headers=approver)).json()["approvals"]
        assert approval["id"] in [a["id"] for a in listed]
        decided = await client.post(
            f"/v1/approvals/{approval['id']}/approve",
            json={"reason": "customer asked by phone", "request_hash": approval["request_hash"]},
            headers=approver,
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "executed"
        assert decided.json()["result"] == {"customer_id": "c_3", "language": "en", "marketing_opt_in": True, "two_factor": True}
        record = (await client.get(parked.headers["Location"], headers=acme)).json()
        assert (record["decision"], record["outcome"]) == ("allowed", "ok")
        assert [s["step"] for s in record["approval"]["steps"]] == ["requested", "approved", "executed"]
        again = await client.post(f"/v1/approvals/{approval['id']}/approve", json={"reason": "twice"}, headers=approver)
        assert_problem(again, 409, "approval-closed")
        other = (await client.post("/v1/actions/accounts.get_settings", json={"customer_id": "c_3"}, headers=globex)).json()
        assert other["result"]["marketing_opt_in"] is False


def test_unknown_endpoints_and_methods_are_problems(client: httpx.Client) -> None:
    assert_problem(client.get("/v2/nothing"), 404, "not-found")
    wrong = assert_problem(client.delete("/v1/actions"), 405, "method-not-allowed")
    assert wrong["detail"].startswith("DELETE")
    stream = client.get("/mcp", headers={"Accept": "text/event-stream"})
    assert_problem(stream, 405, "method-not-allowed")
    assert stream.headers["Allow"] == "POST"


def test_revocation_from_another_process_holds_on_the_next_call(client: httpx.Client, demo_server: DemoServer) -> None:
    import asyncio
    import json

    from click.testing import CliRunner

    from chamberlain.cli import main

    token = asyncio.run(demo_server.issue(ACME, ["orders.get"]))
    assert client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(token)).status_code == 200
    grant_id = json.loads(
        CliRunner()
        .invoke(
            main,
            [
                "grant",
                "issue",
                "--tenant",
                ACME,
                "--principal",
                "agent:x",
                "--actions",
                "orders.get",
                "--json",
                "--data-dir",
                str(demo_server.data),
            ],
        )
        .output
    )["id"]
    assert grant_id.startswith("g_")
    revoke = CliRunner().invoke(
        main, ["grant", "revoke", "--token", token, "--reason", "test", "--data-dir", str(demo_server.data)]
    )
    assert revoke.exit_code == 0, revoke.output
    refused = assert_problem(
        client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(token)), 401, "grant-revoked"
    )
    auditor = asyncio.run(demo_server.issue(ACME, ["calls.read"]))
    record = client.get(f"/v1/calls/{refused['call_id']}", headers=bearer(auditor)).json()
    assert record["decision"] == "refused" and record["error_type"].endswith("/grant-revoked")
    assert_problem(client.get(f"/v1/calls/{refused['call_id']}", headers=bearer(demo_server.grants[ACME])), 404, "call-not-found")
    assert_problem(client.get("/v1/actions", headers=bearer(token)), 401, "grant-revoked")


def test_attenuated_grant_narrows_and_shows_the_chain(client: httpx.Client, demo_server: DemoServer) -> None:
    from datetime import timedelta

    from chamberlain.grants import attenuate

    parent = demo_server.grants[ACME]
    keys = client.get(f"/v1/tenants/{ACME}/keys").json()["keys"]
    assert keys[0]["alg"] == "ed25519" and keys[0]["status"] == "active" and "private" not in str(keys)
    assert_problem(client.get("/v1/tenants/nobody/keys"), 404, "not-found")

    child = attenuate(
        parent, keys[0]["public_key"], actions=["orders.get"], ttl=timedelta(minutes=5), delegate_to="agent:researcher"
    )
    ok = client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(child))
    assert ok.status_code == 200
    record = client.get(f"/v1/calls/{ok.json()['call_id']}", headers=bearer(parent)).json()
    assert record["principal"] == "agent:researcher" and record["on_behalf_of"] == "agent:support-bot"
    assert record["reasons"][0]["chain"] == ["tenant:acme-shop", "user:ops-lead", "agent:support-bot", "agent:researcher"]
    authorize = next(r for r in record["reasons"] if r["stage"] == "authorize")
    assert authorize["blocks"] == 2 and (authorize["block"], authorize["right"]) == (0, "orders.*")
    assert record["reasons"][-1]["stage"] == "policy" and record["reasons"][-1]["decision"] == "allow"

    refund = {"order_id": "o_1001", "amount": {"amount_minor": 1, "currency": "EUR"}, "reason": "test"}
    assert_problem(client.post("/v1/actions/orders.refund", json=refund, headers=bearer(child)), 403, "permission-denied")
    listed = client.get("/v1/actions", headers=bearer(child)).json()["actions"]
    assert [a["name"] for a in listed] == ["orders.get"]
    # A grandchild cannot widen what its parent narrowed.
    wider = attenuate(child, keys[0]["public_key"], actions=["orders.*", "customers.*"])
    assert_problem(
        client.post("/v1/actions/customers.get", json={"customer_id": "c_1"}, headers=bearer(wider)), 403, "permission-denied"
    )


async def test_policies_over_rest_read_refuse_invalid_and_change_after_approval(demo_server: DemoServer) -> None:
    """GET/PUT /v1/policies are governed actions: a change is validated, parked, approved, versioned."""
    tenant = "policy-co"  # its own tenant: the change must not reach other tests
    await demo_server.add_approver(tenant, "human:pat")
    ops = bearer(await demo_server.issue(tenant, ["policies.*"], principal="agent:ops"))
    pat = bearer(await demo_server.issue(tenant, ["calls.read"], principal="human:pat"))
    async with httpx.AsyncClient(base_url=demo_server.base, timeout=10) as client:
        current = (await client.get("/v1/policies", headers=ops)).json()["result"]
        assert current["version"] == 0 and "default-approve-account-changes" in current["policies"]

        typo = {"files": {"a.cedar": "permit (principal, action, resource) when { context.amount_minr > 1 };"}}
        refused = assert_problem(await client.put("/v1/policies", json=typo, headers=ops), 422, "invalid-input")
        assert refused["errors"][0]["loc"] == ["files"] and "a.cedar a.cedar#1: attribute" in refused["errors"][0]["msg"]

        files = {"all.cedar": '@id("open") permit (principal, action, resource);'}
        parked = await client.put("/v1/policies", json={"files": files, "comment": "open up"}, headers=ops)
        assert parked.status_code == 202, parked.text
        assert (await client.get("/v1/policies", headers=ops)).json()["result"]["version"] == 0, "nothing before approval"
        approval = parked.json()["approval"]
        decided = await client.post(
            f"/v1/approvals/{approval['id']}/approve",
            json={"reason": "reviewed", "request_hash": approval["request_hash"]},
            headers=pat,
        )
        assert decided.json()["status"] == "executed", decided.text
        now = (await client.get("/v1/policies", headers=ops)).json()["result"]
        assert (now["version"], now["policies"], now["files"]) == (1, ["open"], files)


def test_audit_log_checkpoint_entries_and_proofs(client: httpx.Client, demo_server: DemoServer) -> None:
    from chamberlain.audit import VerifierKey, open_checkpoint
    from chamberlain.audit._verify import verify_proof

    token = demo_server.grants[ACME]
    call = client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(token)).json()
    record = client.get(f"/v1/calls/{call['call_id']}", headers=bearer(token)).json()
    (index,) = record["audit_entries"]

    key = VerifierKey.parse(client.get("/v1/audit/key", headers=bearer(token)).text)
    checkpoint = client.get("/v1/audit/checkpoint", headers=bearer(token))
    assert checkpoint.headers["content-type"].startswith("text/plain")
    signed = open_checkpoint(checkpoint.text, key)
    assert signed.origin.endswith("/" + ACME) and signed.size > index

    # An agent may prove its own call's entry, offline, with nothing but the log's key.
    proof = client.get(f"/v1/audit/entries/{index}?proof=1", headers=bearer(token)).json()
    assert proof["entry"]["call_id"] == call["call_id"] and proof["entry"]["trace_id"] == record["trace_id"]
    assert f"entry {index}" in verify_proof(proof, key)
    later = client.get(f"/v1/audit/consistency?from={index + 1}", headers=bearer(token)).json()
    assert "prefix" in verify_proof(later, key)

    # Reading the whole log needs audit.read; another tenant sees nothing of it.
    assert_problem(client.get("/v1/audit/entries", headers=bearer(token)), 403, "permission-denied")
    assert_problem(
        client.get(f"/v1/audit/entries/{index}", headers=bearer(demo_server.grants[GLOBEX])), 404, "audit-entry-not-found"
    )
    assert_problem(client.get("/v1/audit/entries/-1", headers=bearer(token)), 400, "bad-request")
    assert_problem(client.get("/v1/audit/consistency?from=0", headers=bearer(token)), 400, "bad-request")
    assert_problem(client.get("/v1/audit/entries/99999999", headers=bearer(token)), 404, "audit-entry-not-found")
    assert_problem(client.get("/v1/audit/checkpoint"), 401, "grant-missing")


def test_audit_numbers_that_int_refuses_are_bad_requests(client: httpx.Client, demo_server: DemoServer) -> None:
    """Superscript digits pass str.isdigit() and int() refuses them, as it does 5000 digits: both were 500s."""
    token = bearer(demo_server.grants[ACME])
    for bad in ("\u00b2", "\u0663", "9" * 5000):
        assert_problem(client.get("/v1/audit/entries", params={"limit": bad}, headers=token), 400, "bad-request")
        assert_problem(client.get("/v1/audit/consistency", params={"from": bad}, headers=token), 400, "bad-request")
        assert_problem(client.get(f"/v1/audit/entries/{bad}", headers=token), 400, "bad-request")


def test_an_idempotency_key_makes_a_retry_a_replay(client: httpx.Client, demo_server: DemoServer) -> None:
    headers = {**bearer(demo_server.grants[ACME]), "Idempotency-Key": "rest-retry-1"}
    body = {"order_id": "o_1002", "amount": {"amount_minor": 100, "currency": "EUR"}, "reason": "retried"}
    first = client.post("/v1/actions/orders.refund", json=body, headers=headers)
    again = client.post("/v1/actions/orders.refund", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["chamberlain-call-id"] == first.json()["call_id"]
    other = client.post("/v1/actions/orders.refund", json={**body, "reason": "changed"}, headers=headers)
    reused = assert_problem(other, 422, "idempotency-key-reused")
    assert reused["first_call_id"] == first.json()["call_id"]
    bad = client.post("/v1/actions/orders.refund", json=body, headers={**headers, "Idempotency-Key": "two words"})
    assert_problem(bad, 400, "idempotency-key-invalid")


def test_a_key_in_use_says_when_to_retry() -> None:
    from chamberlain.errors import IdempotencyKeyInUse
    from chamberlain.surfaces.rest._problems import problem_response

    resp = problem_response(IdempotencyKeyInUse("still running", first_call_id="call_x", retry_after=0.2))
    assert resp.status_code == 409 and resp.headers["retry-after"] == "1"
    assert orjson.loads(resp.body)["retryable"] is True


def test_every_problem_type_is_served_at_its_own_page(client: httpx.Client) -> None:
    from chamberlain.errors import all_error_types

    listed = client.get("/errors").json()["errors"]
    assert [e["code"] for e in listed] == [cls.code for cls in all_error_types()]
    for cls in all_error_types():
        assert "advice" in cls.__dict__, f"{cls.__name__} says what to do about it"
    page = client.get("/errors/idempotency-key-in-use", headers={"Accept": "application/json"}).json()
    assert page["status"] == 409 and page["retryable"] is True and "Retry-After" in page["advice"]
    assert page["type"] == "https://chamberlain.dev/errors/idempotency-key-in-use"
    human = client.get("/errors/grant-expired", headers={"Accept": "text/html"})
    assert human.headers["content-type"].startswith("text/html") and "Get a fresh grant" in human.text
    assert_problem(client.get("/errors/no-such-thing"), 404, "not-found")
    # A refusal's type names the page that explains it.
    refused = client.post("/v1/actions/orders.get", json={"order_id": "o_1001"})
    code = refused.json()["type"].rsplit("/", 1)[1]
    assert client.get(f"/errors/{code}", headers={"Accept": "application/json"}).json()["code"] == "grant-missing"


def test_the_action_list_says_which_actions_need_a_key(client: httpx.Client, demo_server: DemoServer) -> None:
    listed = {a["name"]: a for a in client.get("/v1/actions", headers=bearer(demo_server.grants[ACME])).json()["actions"]}
    assert listed["orders.refund"]["idempotency_key"] == "required" and listed["orders.get"]["idempotency_key"] == "optional"
    spec = client.get("/openapi.json").json()["paths"]
    (refund_key,) = spec["/v1/actions/orders.refund"]["post"]["parameters"]
    assert refund_key["name"] == "Idempotency-Key" and refund_key["required"] is True
    assert spec["/v1/actions/orders.get"]["post"]["parameters"][0]["required"] is False
    body = {"order_id": "o_1002", "amount": {"amount_minor": 100, "currency": "EUR"}, "reason": "no key"}
    unkeyed = client.post("/v1/actions/orders.refund", json=body, headers=bearer(demo_server.grants[ACME]))
    assert_problem(unkeyed, 400, "idempotency-key-required")


def test_a_limited_action_says_how_much_is_left(client: httpx.Client, demo_server: DemoServer) -> None:
    token = demo_server.grants[ACME]
    body = {"order_id": "o_1002", "amount": {"amount_minor": 1, "currency": "EUR"}, "reason": "limits"}
    resp = client.post("/v1/actions/orders.refund", json=body, headers={**bearer(token), "Idempotency-Key": new_key()})
    assert resp.status_code == 200 and resp.headers["ratelimit-policy"] == '"orders.refund";q=100;w=60'
    remaining = int(resp.headers["ratelimit"].split(";r=")[1].split(";")[0])
    assert 0 <= remaining < 100 and resp.headers["ratelimit"].startswith('"orders.refund";r=')
    listed = {a["name"]: a for a in client.get("/v1/actions", headers=bearer(token)).json()["actions"]}
    assert listed["orders.refund"]["limits"] == {"rate": "100/minute"} and listed["orders.get"]["limits"] == {}
    unlimited = client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=bearer(token))
    assert "ratelimit" not in unlimited.headers


def _operations(doc: dict) -> dict[str, dict]:
    return {f"{method.upper()} {path}": op for path, item in doc["paths"].items() for method, op in item.items()}


def test_the_openapi_document_lists_every_answer_the_server_gives(client: httpx.Client) -> None:
    """What schemathesis found the document did not say (tests/fuzz holds the server to it)."""
    doc = client.get("/openapi.json").json()
    ops = _operations(doc)
    refund = ops["POST /v1/actions/orders.refund"]
    # Any action can be parked by the tenant's policies, and limited by the tenant's own limits.
    for name in ("orders.get", "orders.refund", "catalog.list_products"):
        responses = ops[f"POST /v1/actions/{name}"]["responses"]
        assert {"200", "202", "401", "429", "503"} <= responses.keys(), name
    assert refund["responses"]["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Pending"}
    assert "Location" in refund["responses"]["202"]["headers"]
    assert "404" in ops["POST /v1/actions/orders.refund.revert"]["responses"], "a revert of an unknown call"
    # Every operation that takes a grant can refuse it; the public ones take none.
    for label, op in ops.items():
        assert ("401" in op["responses"]) == ("security" in op), label
    assert "security" not in ops["GET /stores/{tenant}/llms.txt"] and "security" not in ops["POST /v1/claims/verify"]
    # An empty body is read as {}: only an action with a required argument needs a body.
    assert ops["POST /v1/actions/orders.get"]["requestBody"]["required"] is True
    assert ops["POST /v1/actions/orders.list"]["requestBody"]["required"] is False
    # Created things are 201; the audit numbers are bounded as the server reads them.
    assert "201" in ops["POST /v1/quotes"]["responses"] and "200" not in ops["POST /v1/quotes"]["responses"]
    entries = {p["name"]: p["schema"] for p in ops["GET /v1/audit/entries"]["parameters"]}
    assert entries["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert entries["from"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    entry = {p["name"]: p["schema"] for p in ops["GET /v1/audit/entries/{index}"]["parameters"]}
    assert entry["proof"]["enum"] == ["0", "1", "false", "true"] and entry["proof"]["type"] == "string"
    consistency = {p["name"]: p for p in ops["GET /v1/audit/consistency"]["parameters"]}
    assert consistency["from"]["required"] and consistency["from"]["schema"]["minimum"] == 1
    # The endpoints the document used to leave out.
    for label in ("GET /v1/calls", "GET /v1/policies", "PUT /v1/policies", "GET /v1/approvals", "GET /v1/events/types"):
        assert label in ops, label


def test_proof_is_asked_for_with_one_of_its_values(client: httpx.Client, demo_server: DemoServer) -> None:
    token = bearer(demo_server.grants[ACME])
    call = client.post("/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=token).json()
    (index,) = client.get(f"/v1/calls/{call['call_id']}", headers=token).json()["audit_entries"]
    for asked, proved in (("1", True), ("true", True), ("0", False), ("false", False)):
        assert ("inclusion" in client.get(f"/v1/audit/entries/{index}?proof={asked}", headers=token).json()) is proved
    # Anything else was silently "no proof": a client asking for one must get it or be told.
    refused = assert_problem(client.get(f"/v1/audit/entries/{index}?proof=yes", headers=token), 400, "bad-request")
    assert refused["parameter"] == "proof"


async def test_audit_numbers_past_what_the_log_can_hold_are_bad_requests(demo_server: DemoServer) -> None:
    """The log's positions are 32-bit in the database: PostgreSQL refused larger ones with a 500."""
    token = bearer(demo_server.grants[ACME])
    auditor = bearer(await demo_server.issue(ACME, ["audit.read"]))
    async with httpx.AsyncClient(base_url=demo_server.base, timeout=10) as client:
        for big in (2**31, 13999451828, 2**62 - 1):
            assert_problem(await client.get(f"/v1/audit/entries/{big}", headers=token), 400, "bad-request")
            assert_problem(await client.get(f"/v1/audit/consistency?from=1&to={big}", headers=token), 400, "bad-request")
            assert_problem(await client.get(f"/v1/audit/entries?from={big}", headers=auditor), 400, "bad-request")
        assert_problem(await client.get(f"/v1/audit/entries/{2**31 - 1}", headers=token), 404, "audit-entry-not-found")
        assert (await client.get(f"/v1/audit/entries?from={2**31 - 1}", headers=auditor)).json()["entries"] == []


async def test_nul_in_a_name_or_in_data_is_refused_like_any_bad_input(demo_server: DemoServer) -> None:
    """PostgreSQL refuses NUL in text, so each of these was a 500 there (and fine on SQLite)."""
    token = bearer(demo_server.grants[ACME])
    reader = bearer(await demo_server.issue(ACME, ["calls.read"]))
    async with httpx.AsyncClient(base_url=demo_server.base, timeout=10) as client:
        # A name with a NUL names nothing: not found, as an unknown name is.
        assert_problem(await client.get("/v1/calls/%00x", headers=token), 404, "call-not-found")
        assert_problem(await client.post("/v1/actions/orders.get%00", json={}, headers=token), 404, "unknown-action")
        assert_problem(await client.post("/v1/calls/%00/revert", json={}, headers=token), 404, "call-not-found")
        assert_problem(await client.get("/v1/approvals/a%00", headers=token), 404, "approval-not-found")
        assert_problem(await client.get("/v1/tenants/acme%00/keys"), 404, "not-found")
        assert_problem(await client.get(f"/stores/{ACME}/products/p_kettle%00"), 404, "not-found")
        listed = await client.get("/v1/calls", params={"principal": "agent:\x00", "before": "\x00"}, headers=reader)
        assert listed.status_code == 200 and listed.json()["calls"] == [], listed.text
        # In data, it is invalid input, with where it was.
        refused = assert_problem(
            await client.post("/v1/actions/orders.get", json={"order_id": "o_1001\x00"}, headers=token), 422, "invalid-input"
        )
        assert refused["errors"] == [{"loc": ["order_id"], "msg": "text may not contain NUL (U+0000)", "type": "string_nul"}]
        assert "call_id" in refused, "recorded like any refusal"
        key = {**token, "Idempotency-Key": new_key()}
        nested = {"order_id": "o_1001", "amount": {"amount_minor": 1, "currency": "EU\x00"}, "reason": "nul"}
        refused = assert_problem(await client.post("/v1/actions/orders.refund", json=nested, headers=key), 422, "invalid-input")
        assert refused["errors"][0]["loc"] == ["amount", "currency"]
        decision = await client.post("/v1/approvals/apr_x/approve", json={"reason": "\x00"}, headers=token)
        assert_problem(decision, 422, "invalid-input")
        verify = await client.post("/v1/claims/verify", json={"credential": {"\x00": 1}})
        assert_problem(verify, 422, "invalid-input")


def test_listing_calls_and_approvals_checks_the_grant_first(client: httpx.Client, demo_server: DemoServer) -> None:
    """As for every call: no grant is 401 whatever else is wrong; then a bad parameter is 400."""
    assert_problem(client.get("/v1/calls?limit=0"), 401, "grant-missing")
    assert_problem(client.get("/v1/approvals?status=bogus"), 401, "grant-missing")
    token = bearer(demo_server.grants[ACME])
    assert_problem(client.get("/v1/approvals?status=bogus", headers=token), 400, "bad-request")
    for limit in ("0", "501", "+5", "5_0", " 5"):
        assert_problem(client.get("/v1/calls", params={"limit": limit}, headers=token), 400, "bad-request")


def test_a_refused_method_names_every_method_of_the_path(client: httpx.Client) -> None:
    refused = client.patch("/v1/policies")
    assert_problem(refused, 405, "method-not-allowed")
    assert {m.strip() for m in refused.headers["allow"].split(",")} >= {"GET", "PUT"}


def test_a_request_naming_no_tenant_leaves_no_database_behind(client: httpx.Client, demo_server: DemoServer) -> None:
    """With tenants in databases of their own, reading in an unknown tenant's scope created its
    database: any anonymous request naming a store left a file (CHAMBERLAIN_TEST_BACKEND=silo)."""
    names = ("nobody-1", "nobody-2", "nobody-3")
    assert_problem(client.get(f"/stores/{names[0]}/llms.txt"), 404, "not-found")
    assert_problem(client.get(f"/stores/{names[1]}/products/p_kettle"), 404, "not-found")
    settings = Settings(data_dir=demo_server.data)  # the gateway's own URL, as its claims name their keys
    public = settings.public_url or f"http://{settings.host}:{settings.port}"
    credential = {"proof": {"verificationMethod": f"{public}/stores/{names[2]}/keys/claims"}}
    assert_problem(client.post("/v1/claims/verify", json={"credential": credential}), 422, "invalid-input")
    assert not [p for p in demo_server.data.rglob("*") if any(name in p.name for name in names)]
