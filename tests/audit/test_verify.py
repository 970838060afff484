"""What the log records about real calls, and the offline verifier against every kind of edit."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chamberlain import audit
from chamberlain.app import Runtime
from chamberlain.audit import _log
from chamberlain.audit._export import erase_payloads, export_log
from chamberlain.audit._verify import ENTRIES, HISTORY, PAYLOADS, Report, verify_export, verify_proof
from chamberlain.canonical import jcs
from chamberlain.cli import main
from chamberlain.store import audit_checkpoints, audit_entries, audit_heads, audit_nodes, tenant_transaction
from tests.conftest import issue, permit_all
from tests.pipeline.test_gateway import REFUND, add_order, run


async def busy_log(rt: Runtime) -> dict[str, Any]:
    """A log with calls of every decision, grants and a policy change, checkpointed twice."""
    await permit_all(rt)
    await add_order(rt, "acme")
    token = await issue(rt, on_behalf_of="user:alice")
    await rt.audit.checkpoint("acme")
    ok = await run(rt, token, "orders.refund", REFUND)
    await run(rt, token, "orders.get", {"order_id": "nope"})  # handler refuses
    await run(rt, token, "orders.refund", {"order_id": 5})  # invalid input
    await run(rt, "garbage", "orders.get", {"order_id": "o_1"})  # no tenant: record only
    issued = await run(rt, token, "grants.issue", {"principal": "agent:sub", "actions": ["orders.get"]})
    await run(rt, token, "grants.revoke", {"grant_id": issued.result["id"]})
    await rt.audit.checkpoint("acme")
    return {"refund": ok, "issued": issued}


def kinds(bodies: list[bytes]) -> list[str]:
    return [orjson.loads(b)["kind"] for b in bodies]


async def test_every_decision_and_change_is_an_entry(runtime: Runtime) -> None:
    calls = await busy_log(runtime)
    bodies = await _log.entries(runtime.store, "acme", 0, 100)
    assert kinds(bodies) == [
        "policy.changed",
        "grant.issued",
        "call.executed",
        "call.executed",  # allowed, then the handler refused: the outcome says error
        "call.refused",
        "grant.issued",
        "call.executed",
        "grant.revoked",
        "call.executed",
    ]
    refund = orjson.loads(bodies[2])
    assert refund["call_id"] == calls["refund"].call.id and refund["trace_id"] == calls["refund"].call.trace_id
    assert (refund["decision"], refund["outcome"], refund["on_behalf_of"]) == ("allowed", "ok", "user:alice")
    stored = await runtime.store.fetch_one(audit_entries.select().where(audit_entries.c.idx == 2))
    assert stored is not None and set(orjson.loads(stored["payload"])) == {"arguments", "result"}
    assert refund["payload"] == audit.commitment(stored["payload_salt"], stored["payload"].encode())
    assert "damaged" not in bodies[2].decode()  # the reason is a payload, not in the entry
    failed = orjson.loads(bodies[3])
    assert failed["outcome"] == "error" and failed["error_type"].endswith("/action-failed")
    # A freshly issued grant's token never reaches the payload store.
    token = calls["issued"].result["token"]
    export = await _payload_bodies(runtime)
    assert token not in export and "[secret]" in export


async def _payload_bodies(rt: Runtime) -> str:
    rows = await rt.store.fetch_all(audit_entries.select())
    return " ".join(str(r["payload"]) for r in rows)


@pytest.fixture
async def exported(runtime: Runtime, tmp_path: Path) -> tuple[Path, audit.VerifierKey, Runtime]:
    await busy_log(runtime)
    folder = tmp_path / "export"
    await export_log(runtime.audit, "acme", folder)
    return folder, await runtime.audit.verifier("acme"), runtime


def check(folder: Path, key: audit.VerifierKey, **kw: Any) -> Report:
    return verify_export(folder, key, (folder / "checkpoint").read_text(), **kw)


def lines(folder: Path) -> list[bytes]:
    return (folder / ENTRIES).read_bytes().splitlines()


def rewrite(folder: Path, new: list[bytes]) -> None:
    (folder / ENTRIES).write_bytes(b"".join(line + b"\n" for line in new))


def test_an_untouched_export_verifies(exported: tuple[Path, audit.VerifierKey, Runtime]) -> None:
    folder, key, _ = exported
    report = check(folder, key)
    assert report.ok, report.problems
    assert report.entries == report.checkpoint.size == 9
    assert report.checkpoints >= 2 and report.payloads >= 4


def edit(body: bytes, **changes: Any) -> bytes:
    return jcs({**orjson.loads(body), **changes})


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        pytest.param(lambda e: [*e[:3], edit(e[3], outcome="ok"), *e[4:]], 3, id="change"),
        pytest.param(lambda e: [*e[:3], e[3].replace(b'"outcome"', b' "outcome"'), *e[4:]], 3, id="change-format"),
        pytest.param(lambda e: [*e[:3], *e[4:]], 3, id="delete"),
        pytest.param(lambda e: [*e[:3], edit(e[2], index=3, prev=audit.leaf_hash(e[2]).hex()), *e[3:]], 3, id="insert"),
        pytest.param(lambda e: [*e[:3], e[4], e[3], *e[5:]], 3, id="reorder"),
        pytest.param(lambda e: e[:-2], 7, id="truncate"),
    ],
)
def test_each_kind_of_edit_is_caught_at_the_first_bad_entry(
    exported: tuple[Path, audit.VerifierKey, Runtime], tamper: Any, first_bad: int
) -> None:
    folder, key, _ = exported
    rewrite(folder, tamper(lines(folder)))
    report = check(folder, key)
    assert not report.ok
    assert report.first_bad == first_bad, report.problems


def test_a_consistently_rebuilt_tail_is_caught_by_the_signed_roots(exported: tuple[Path, audit.VerifierKey, Runtime]) -> None:
    folder, key, _ = exported
    entries = lines(folder)
    rebuilt, prev = entries[:5], audit.leaf_hash(entries[4])
    for body in entries[5:]:  # change entry 5 and re-chain everything after it
        changed = edit(body, prev=prev.hex(), **({"outcome": "ok"} if len(rebuilt) == 5 else {}))
        rebuilt.append(changed)
        prev = audit.leaf_hash(changed)
    rewrite(folder, rebuilt)
    report = check(folder, key)
    assert not report.ok and any("differ from what was signed" in w for _, w in report.problems)


def test_a_fork_and_a_re_signed_or_foreign_checkpoint_are_refused(exported: tuple[Path, audit.VerifierKey, Runtime]) -> None:
    folder, key, _ = exported
    note = (folder / "checkpoint").read_text()
    attacker = Ed25519PrivateKey.generate()
    forged = audit.sign_note(audit.verify_note(note, key), key.name, attacker)
    with pytest.raises(audit.NoteError, match="not signed by"):
        verify_export(folder, key, forged)
    other = audit.VerifierKey("chamberlain.local/audit/globex", attacker.public_key().public_bytes_raw())
    with pytest.raises(audit.NoteError):
        verify_export(folder, other, note)


async def test_two_signed_roots_for_one_size_are_a_fork(exported: tuple[Path, audit.VerifierKey, Runtime]) -> None:
    """The log's own key signing a second, different tree of a size it already signed."""
    folder, key, rt = exported
    signed = audit.Checkpoint.parse(audit.verify_note((folder / "checkpoint").read_text(), key))
    other = audit.Checkpoint(signed.origin, signed.size, b"\x42" * 32, signed.time)
    forked = audit.sign_note(other.text(), key.name, await rt.audit.keys.signer("acme"))
    with (folder / HISTORY).open("ab") as fh:
        fh.write(orjson.dumps({"size": other.size, "note": forked}) + b"\n")
    report = check(folder, key)
    assert not report.ok and any("the log forked" in what for _, what in report.problems)


async def test_a_log_re_signed_by_its_operator_fails_against_a_checkpoint_the_auditor_kept(
    exported: tuple[Path, audit.VerifierKey, Runtime], tmp_path: Path
) -> None:
    folder, key, rt = exported
    kept = (folder / "checkpoint").read_text()
    async with tenant_transaction(rt.store, "acme") as tx:  # rebuild history without entry 3, then append
        for table in (audit_entries, audit_nodes, audit_heads, audit_checkpoints):
            await tx.execute(table.delete().where(table.c.tenant_id == "acme"))
        for n in range(12):
            await audit.append(tx, "acme", "test.entry", {"n": n})
    shutil.rmtree(rt.settings.audit_path)  # and the files outside the database
    again = tmp_path / "again"
    await export_log(rt.audit, "acme", again)
    assert check(again, key).ok  # on its own, a consistent forgery by the key holder
    report = check(again, key, also=[kept])
    assert not report.ok and any("differ from what was signed" in w for _, w in report.problems)


async def test_another_tenants_checkpoint_and_key_do_not_vouch_for_this_log(
    exported: tuple[Path, audit.VerifierKey, Runtime],
) -> None:
    folder, _, rt = exported
    await run(rt, await issue(rt, "globex"), "orders.get", {"order_id": "x"})
    globex = await rt.audit.checkpoint("globex")
    report = verify_export(folder, await rt.audit.verifier("globex"), globex.note)
    assert not report.ok and report.first_bad == 0
    assert any("entry 0 belongs to 'acme'" in what for _, what in report.problems)


def test_payloads_are_checked_and_can_be_erased(exported: tuple[Path, audit.VerifierKey, Runtime]) -> None:
    folder, key, _ = exported
    records = (folder / PAYLOADS).read_bytes().splitlines()
    first = orjson.loads(records[0])
    records[0] = orjson.dumps({**first, "body": '{"changed":true}'})
    (folder / PAYLOADS).write_bytes(b"\n".join(records) + b"\n")
    report = check(folder, key)
    assert not report.ok and report.first_bad == first["index"]


async def test_erasing_payloads_keeps_the_log_verifiable(runtime: Runtime, tmp_path: Path) -> None:
    calls = await busy_log(runtime)
    result = await erase_payloads(
        runtime.store, "acme", call_ids=[], on_behalf_of="user:alice", reason="GDPR request 42", by="operator:dpo"
    )
    assert result["entries"]
    folder = tmp_path / "export"
    await export_log(runtime.audit, "acme", folder)
    report = check(folder, await runtime.audit.verifier("acme"))
    assert report.ok, report.problems
    assert "damaged" not in (folder / PAYLOADS).read_text()
    last = orjson.loads(lines(folder)[-1])
    assert last["kind"] == "payload.erased" and last["by"] == "operator:dpo"
    assert calls["refund"].call.id  # the call record stays; only its payloads went


async def test_inclusion_and_consistency_proofs_verify_offline(exported: tuple[Path, audit.VerifierKey, Runtime]) -> None:
    folder, key, rt = exported
    for index in range(9):
        document = orjson.loads(orjson.dumps(await rt.audit.inclusion("acme", index)))
        assert "entry 3" in verify_proof(await rt.audit.inclusion("acme", 3), key)
        verify_proof(document, key)
    tampered = await rt.audit.inclusion("acme", 4)
    tampered["inclusion"][0] = base64.b64encode(b"\x00" * 32).decode()
    with pytest.raises(audit.ProofError):
        verify_proof(tampered, key)
    old = (folder / "checkpoint").read_text()
    await run(rt, await issue(rt), "orders.get", {"order_id": "o_1"})
    consistency = await rt.audit.consistency("acme", 9, None)
    assert "your checkpoint" in verify_proof(consistency, key, old)
    consistency["from_root"] = base64.b64encode(b"\x01" * 32).decode()
    with pytest.raises(audit.ProofError):
        verify_proof(consistency, key, old)


def test_the_cli_verifies_from_files_alone_and_fails_on_tampering(
    exported: tuple[Path, audit.VerifierKey, Runtime], tmp_path: Path
) -> None:
    folder, key, _ = exported
    keyfile = tmp_path / "trusted.pub"
    keyfile.write_text(str(key))
    runner = CliRunner()
    good = runner.invoke(main, ["audit", "verify", str(folder), "--key", str(keyfile)])
    assert good.exit_code == 0 and "OK: 9 entries" in good.output
    entries = lines(folder)
    rewrite(folder, [*entries[:2], *entries[3:]])
    bad = runner.invoke(main, ["audit", "verify", str(folder), "--key", str(key), "--json"])
    assert bad.exit_code == 1
    assert orjson.loads(bad.output[bad.output.index("{") :])["first_bad_entry"] == 2


def test_history_file_is_part_of_the_export(exported: tuple[Path, audit.VerifierKey, Runtime]) -> None:
    folder, key, _ = exported
    sizes = [orjson.loads(line)["size"] for line in (folder / HISTORY).read_bytes().splitlines()]
    assert sizes == sorted(sizes) and sizes[-1] == 9


def test_the_cli_explains_missing_and_malformed_inputs(exported: tuple[Path, audit.VerifierKey, Runtime], tmp_path: Path) -> None:
    folder, key, _ = exported
    runner = CliRunner()
    (folder / "checkpoint").unlink()
    missing = runner.invoke(main, ["audit", "verify", str(folder), "--key", str(key)])
    assert missing.exit_code == 2 and "pass the one you hold with --checkpoint" in missing.output
    bad_key = runner.invoke(main, ["audit", "verify", str(folder), "--key", "not-a-key"])
    assert bad_key.exit_code == 2 and "verifier key" in bad_key.output
    junk = tmp_path / "proof.json"
    junk.write_text("[1, 2]")
    failed = runner.invoke(main, ["audit", "prove", str(junk), "--key", str(key)])
    assert failed.exit_code == 1 and failed.output.startswith("FAILED: ")
    junk.write_text('{"index": 0}')
    failed = runner.invoke(main, ["audit", "prove", str(junk), "--key", str(key)])
    assert failed.exit_code == 1 and "FAILED: " in failed.output
