"""Log tampering: someone with write access to the database rewrites the audit log.

The attacker edits a stored entry (and, to be thorough, the leaf hash stored beside it),
edits a stored payload, or truncates the log. What catches it:

* ``chamberlain audit export`` then ``chamberlain audit verify`` (from files alone, with the
  key and a checkpoint the auditor kept) fails and names the first bad entry;
* the REST API checks its own answer before serving an entry with its inclusion proof, and
  refuses (``500 audit-log-broken``, naming the entry) rather than serve one that does not
  match the checkpoint it signed;
* the gateway refuses to sign a checkpoint that contradicts the last one it wrote outside
  the database (a truncated or rolled-back log), and says so.

Each refused read is recorded like any refusal. ``tests/audit/test_verify.py`` tries every
kind of edit on exported files; here the edits are made where an attacker would make them.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from chamberlain.app import Runtime
from chamberlain.audit import leaf_hash
from chamberlain.audit._merkle import perfect_subtrees
from chamberlain.canonical import jcs
from chamberlain.cli import main
from chamberlain.store import audit_checkpoints, audit_entries, audit_heads, audit_nodes, tenant_transaction
from chamberlain.tenants import create_tenant
from tests.security.conftest import TAMPER, Gate, bearer, refused


def busy(gate: Gate, http: httpx.Client, tenant: str) -> tuple[dict[str, str], dict[str, str]]:
    """A few calls in ``tenant``'s log; an agent's and an auditor's credentials."""
    agent = bearer(gate.issue(tenant, ["orders.*", "customers.*"], principal="agent:busy"))
    for n in range(4):
        http.post("/v1/actions/orders.list", json={}, headers=agent)
        http.post("/v1/actions/customers.get", json={"customer_id": f"c_{n}"}, headers=agent)
    return agent, bearer(gate.issue(tenant, ["audit.read", "calls.read"], principal="human:auditor"))


def executed_entry(gate: Gate, tenant: str) -> tuple[int, int]:
    """The indexes of two entries of calls that ran: one to rewrite, one whose payload to edit."""
    rows = gate.inspect.run(
        lambda rt: rt.store.fetch_all(
            select(audit_entries.c.idx, audit_entries.c.payload)
            .where(audit_entries.c.tenant_id == tenant, audit_entries.c.kind == "call.executed")
            .order_by(audit_entries.c.idx)
        )
    )
    with_payload = [int(r["idx"]) for r in rows if r["payload"]]
    return int(rows[0]["idx"]), with_payload[-1]


def test_a_rewritten_entry_and_payload_are_caught_and_named(gate: Gate, http: httpx.Client, tmp_path: Path) -> None:
    _, auditor = busy(gate, http, TAMPER)
    held = http.get("/v1/audit/checkpoint", headers=auditor)  # what the auditor keeps, before anything happens
    key = http.get("/v1/audit/key", headers=auditor)
    assert held.status_code == 200 and key.status_code == 200
    (tmp_path / "held").write_text(held.text)
    (tmp_path / "key.pub").write_text(key.text)
    rewritten, payload_of = executed_entry(gate, TAMPER)
    assert http.get(f"/v1/audit/entries/{rewritten}?proof=1", headers=auditor).status_code == 200

    async def tamper(rt: Runtime) -> None:
        async with tenant_transaction(rt.store, TAMPER) as tx:
            row = (
                await tx.execute(
                    select(audit_entries.c.body).where(audit_entries.c.tenant_id == TAMPER, audit_entries.c.idx == rewritten)
                )
            ).one()
            body = jcs({**orjson.loads(row[0]), "principal": "agent:someone-else", "outcome": "error"})
            await tx.execute(
                update(audit_entries)
                .where(audit_entries.c.tenant_id == TAMPER, audit_entries.c.idx == rewritten)
                .values(body=body.decode(), leaf_hash=leaf_hash(body))  # the row made consistent with itself
            )
            await tx.execute(
                update(audit_entries)
                .where(audit_entries.c.tenant_id == TAMPER, audit_entries.c.idx == payload_of)
                .values(payload=json.dumps({"arguments": {"order_id": "o_9999"}}))
            )

    gate.inspect.run(tamper)

    # The API will not serve the rewritten entry with a proof: it names it instead.
    body = refused(gate, http.get(f"/v1/audit/entries/{rewritten}?proof=1", headers=auditor), 500, "audit-log-broken", TAMPER)
    assert body["index"] == rewritten and f"entry {rewritten}" in body["detail"]

    # The auditor's own check, from files and what they kept, names the first bad entry and the payload.
    runner, folder = CliRunner(), tmp_path / "export"
    exported = runner.invoke(main, ["audit", "export", "--tenant", TAMPER, "--out", str(folder), "--data-dir", str(gate.data)])
    assert exported.exit_code == 0, exported.output
    checked = runner.invoke(
        main,
        ["audit", "verify", str(folder), "--key", str(tmp_path / "key.pub"), "--checkpoint", str(tmp_path / "held"), "--json"],
    )
    assert checked.exit_code == 1, checked.output
    report = json.loads(checked.output[checked.output.index("{") :])
    assert report["ok"] is False and report["first_bad_entry"] == rewritten, report
    problems = {p["entry"] for p in report["problems"]}
    assert {rewritten, payload_of} <= problems, report["problems"]
    plain = runner.invoke(
        main, ["audit", "verify", str(folder), "--key", str(tmp_path / "key.pub"), "--checkpoint", str(tmp_path / "held")]
    )
    assert plain.exit_code == 1 and f"first bad entry: {rewritten}" in plain.output, plain.output


async def roll_back(rt: Runtime, tenant: str, size: int) -> None:
    """Put ``tenant``'s log back to its first ``size`` entries, consistently, as restoring an
    older backup of the database would: entries, subtree hashes, head and checkpoints."""
    async with tenant_transaction(rt.store, tenant) as tx:
        kept = perfect_subtrees(0, size)
        stored = {
            (int(r[0]), int(r[1])): bytes(r[2])
            for r in await tx.execute(
                select(audit_nodes.c.level, audit_nodes.c.idx, audit_nodes.c.hash).where(audit_nodes.c.tenant_id == tenant)
            )
        }
        leaves = {
            int(r[0]): bytes(r[1])
            for r in await tx.execute(
                select(audit_entries.c.idx, audit_entries.c.leaf_hash).where(audit_entries.c.tenant_id == tenant)
            )
        }
        frontier = [leaves[idx] if level == 0 else stored[(level, idx)] for level, idx in kept]
        await tx.execute(delete(audit_entries).where(audit_entries.c.tenant_id == tenant, audit_entries.c.idx >= size))
        for level, idx in stored:
            if (idx + 1) << level > size:
                await tx.execute(
                    delete(audit_nodes).where(
                        audit_nodes.c.tenant_id == tenant, audit_nodes.c.level == level, audit_nodes.c.idx == idx
                    )
                )
        await tx.execute(
            delete(audit_checkpoints).where(audit_checkpoints.c.tenant_id == tenant, audit_checkpoints.c.size > size)
        )
        await tx.execute(
            update(audit_heads)
            .where(audit_heads.c.tenant_id == tenant)
            .values(size=size, frontier=b"".join(frontier), last_leaf=leaves[size - 1])
        )


def test_a_log_rolled_back_is_caught_before_anything_new_is_signed(gate: Gate, http: httpx.Client) -> None:
    tenant = "tamper-rollback"
    gate.inspect.run(lambda rt: create_tenant(rt.store, rt.keys, tenant, "Rolled back"))
    _, auditor = busy(gate, http, tenant)
    signed = http.get("/v1/audit/checkpoint", headers=auditor)  # signed, and written outside the database
    size = int(signed.text.split("\n")[1])
    gate.inspect.run(lambda rt: roll_back(rt, tenant, size - 3))
    body = refused(gate, http.get("/v1/audit/checkpoint", headers=auditor), 500, "audit-log-broken", tenant)
    assert f"has {size - 3} entries but a checkpoint outside the database covers {size}" in body["detail"]
    # Calls go on (and are logged); what the gateway will not do is vouch for the log again.
    again = refused(gate, http.get("/v1/audit/checkpoint", headers=auditor), 500, "audit-log-broken", tenant)
    assert "outside the database covers" in again["detail"]
